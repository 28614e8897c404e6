"""The admin's environment diff (reached from the deployment matrix) and a release's "what
changed" page (reached from the release): shells over :mod:`releases.environment_diff` and
:mod:`releases.what_changed`."""

from __future__ import annotations

from django import forms
from django.http import HttpRequest, HttpResponse

from registry.models import Environment

from ..environment_diff import UnknownEnvironment, diff_environments
from ..models import Release
from ..what_changed import UnknownSince, what_changed
from .views import AdminPage

MOMENT_HELP = "A past moment (server time zone); empty = now."


class EnvironmentDiffForm(forms.Form):
    a = forms.CharField(label="environment", max_length=63)
    a_at = forms.DateTimeField(label="as of", required=False, help_text=MOMENT_HELP)
    b = forms.CharField(label="compared with", max_length=63)
    b_at = forms.DateTimeField(label="as of", required=False, help_text=MOMENT_HELP)


class SinceForm(forms.Form):
    since = forms.CharField(label="since", max_length=64)


class EnvironmentDiffView(AdminPage):
    template = "admin/releases/release/environment_diff.html"
    title = "Compare environments"

    def get(self, request: HttpRequest) -> HttpResponse:
        names = list(
            Environment.objects.order_by("display_order", "name").values_list("name", flat=True)
        )
        form = EnvironmentDiffForm(request.GET or None)
        diff, error = None, None
        if form.is_valid():
            data = form.cleaned_data
            try:
                diff = diff_environments(data["a"], data["b"], a_at=data["a_at"], b_at=data["b_at"])
            except UnknownEnvironment as exc:
                error = str(exc)
        newest_b = diff.b.newest if diff is not None else None
        # "What changed" of b's newest release since what runs in a now.
        changes_of = (
            Release.objects.filter(version=newest_b["version"]).values_list("pk", flat=True).first()
            if newest_b is not None and diff is not None and diff.a.at is None
            else None
        )
        return self.render(
            request,
            form=form,
            environments=names,
            diff=diff,
            error=error,
            changes_of=changes_of,
        )


class ReleaseChangesView(AdminPage):
    template = "admin/releases/release/changes.html"

    def get(self, request: HttpRequest, object_id: str) -> HttpResponse:
        release = self.release(object_id)
        environments = list(
            Environment.objects.order_by("display_order", "name").values_list("name", flat=True)
        )
        versions = list(
            Release.objects.exclude(pk=release.pk)
            .order_by("-recorded_at")
            .values_list("version", flat=True)[:500]
        )
        form = SinceForm(request.GET or None)
        changes, error = None, None
        if form.is_valid():
            try:
                changes = what_changed(release.version, form.cleaned_data["since"])
            except UnknownSince as exc:
                error = str(exc)
        return self.render(
            request,
            title=f"What changed in {release.version}",
            original=release,
            form=form,
            environments=environments,
            versions=versions,
            changes=changes,
            error=error,
        )
