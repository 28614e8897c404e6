"""The release admin's own pages: import, export, clone, compare, matrix and timeline.

They write only through the services (:mod:`releases.importing`, :mod:`releases.cloning`)
inside ``changes.batch(changes.ADMIN, user=...)``, so an admin import is attributed, checked
and recorded as any other.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import io
import zipfile
from typing import Any

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views import View

from .. import changes
from ..cloning import clone_release, next_version
from ..comparing import compare_releases
from ..deployments_matrix import deployment_matrix
from ..exporting import UnknownRelease, export_release, load_manifests, manifest_filename
from ..forms import AsOfForm, CloneForm, CompareForm, ManifestImportForm
from ..history import manifest_as_of, release_timeline
from ..importing import ImportResult, import_manifests
from ..manifests import Finding, ManifestRejected, dump_manifest, parse_manifest
from ..manifests.files import display_path
from ..models import Release
from ..validation.runs import request_run

FORMATS = {"yaml": "application/yaml", "json": "application/json"}
PASTED = "pasted manifest"


def optional_url(name: str, *args: Any) -> str | None:
    """The URL of a page another part of the registry may provide (validation runs, the
    evidence package); ``None`` while it does not exist, and its button is not shown."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


class AdminPage(View):
    """A page of the release admin, with the admin's context and permissions."""

    admin: ModelAdmin[Release] = None  # type: ignore[assignment]
    title = ""
    template = ""

    def allowed(self, request: HttpRequest) -> bool:
        return bool(self.admin.has_view_permission(request))

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.allowed(request):
            raise PermissionDenied
        response: HttpResponse = super().dispatch(request, *args, **kwargs)  # type: ignore[assignment]
        return response

    def render(self, request: HttpRequest, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            self.template,
            {
                **self.admin.admin_site.each_context(request),
                "opts": self.admin.model._meta,
                "title": context.pop("title", self.title),
                **context,
            },
        )

    def release(self, object_id: str) -> Release:
        release: Release = get_object_or_404(Release, pk=object_id)
        return release


def _download(text: str, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(text.encode(), content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def export_releases(versions: list[str]) -> HttpResponse:
    """One release as a manifest file; several as a zip of ``v<version>.yaml`` files."""
    manifests = load_manifests(versions)
    if len(manifests) == 1:
        manifest = manifests[0]
        return _download(
            dump_manifest(manifest), manifest_filename(manifest.version), FORMATS["yaml"]
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for manifest in manifests:
            archive.writestr(manifest_filename(manifest.version), dump_manifest(manifest))
    response = HttpResponse(buffer.getvalue(), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="releases.zip"'
    return response


class ExportView(AdminPage):
    """The release's manifest; with ``?as_of=<ISO time>``, as the release stood then."""

    def get(self, request: HttpRequest, object_id: str, format: str) -> HttpResponse:
        if format not in FORMATS:
            raise Http404("unknown format")
        release = self.release(object_id)
        as_of = request.GET.get("as_of")
        if not as_of:
            return _download(
                export_release(release.version, format),
                manifest_filename(release.version, format),
                FORMATS[format],
            )
        when = parse_datetime(as_of)
        if when is None:
            raise Http404("as_of is not an ISO date and time")
        if timezone.is_naive(when):
            when = timezone.make_aware(when)
        manifest = manifest_as_of(release.version, when)
        if manifest is None:
            raise Http404(f"release {release.version} did not exist at {when.isoformat()}")
        stamp = when.strftime("%Y%m%dT%H%M%S")
        return _download(
            dump_manifest(manifest, format),
            f"v{release.version}@{stamp}.{format}",
            FORMATS[format],
        )


class ImportView(AdminPage):
    """Upload or paste a manifest, see what it would change, confirm.

    The preview is the import service's dry run; the confirmation runs the same import again
    (on the same bytes, carried in the form) and writes. A refused manifest shows each
    located error and writes nothing.
    """

    title = "Import a manifest"
    template = "admin/releases/release/import.html"

    def allowed(self, request: HttpRequest) -> bool:
        return bool(
            self.admin.has_add_permission(request) and self.admin.has_change_permission(request)
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render(request, form=ManifestImportForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        if "_confirm" in request.POST:
            return self.confirm(request)
        form = ManifestImportForm(request.POST, request.FILES)
        if not form.is_valid():
            return self.render(request, form=form)
        upload = form.cleaned_data.get("file")
        if upload:
            name, data = upload.name or "upload", upload.read()
        else:
            name, data = PASTED, form.cleaned_data["text"].encode()
        return self.preview(request, form, name, data)

    def preview(
        self, request: HttpRequest, form: ManifestImportForm, name: str, data: bytes
    ) -> HttpResponse:
        source = display_path(name)
        try:
            result = import_manifests(
                [(source, parse_manifest(data, source=source))], user=request.user, dry_run=True
            )[0]
        except ManifestRejected as exc:
            return self.render(request, form=form, source=source, errors=exc.errors)
        return self.render(
            request,
            form=form,
            source=source,
            result=result,
            payload=base64.b64encode(data).decode(),
            name=name,
            revision=_revision(result),
        )

    def confirm(self, request: HttpRequest) -> HttpResponse:
        name = request.POST.get("name", PASTED)
        try:
            data = base64.b64decode(request.POST.get("payload", ""), validate=True)
        except (binascii.Error, ValueError):
            return self.render(request, form=ManifestImportForm(), errors=[_bad_payload()])
        source = display_path(name)
        try:
            manifest = parse_manifest(data, source=source)
            with changes.batch(changes.ADMIN, user=request.user):
                # What the preview showed must still be what is stored: a release changed
                # since (another import, an edit) is previewed again rather than overwritten.
                stored = Release.objects.filter(version=manifest.version).first()
                if str(stored.revision if stored else "new") != request.POST.get("revision"):
                    messages.warning(
                        request, "The release changed since the preview: check it again."
                    )
                    return self.preview(request, ManifestImportForm(), name, data)
                result = import_manifests([(source, manifest)], user=request.user)[0]
        except ManifestRejected as exc:
            return self.render(request, form=ManifestImportForm(), source=source, errors=exc.errors)
        release = result.release
        messages.success(request, f"{source}: release {result.version} {result.action}.")
        if release is None:
            return HttpResponseRedirect(reverse("admin:releases_release_changelist"))
        return HttpResponseRedirect(reverse("admin:releases_release_change", args=[release.pk]))


def _revision(result: ImportResult) -> str:
    return str(result.release.revision) if result.release is not None else "new"


def _bad_payload() -> Finding:
    return Finding("payload", "error", "", "the confirmed manifest was damaged: upload it again")


class ValidateView(AdminPage):
    """Queue a validation run of the release (POST only: it writes a run row)."""

    def allowed(self, request: HttpRequest) -> bool:
        return bool(self.admin.has_change_permission(request))

    def post(self, request: HttpRequest, object_id: str) -> HttpResponse:
        release = self.release(object_id)
        run = request_run(release, requested_by=request.user.get_username(), user=request.user)
        messages.success(
            request,
            f"Validation run #{run.pk} of {release.version} queued; the pins' states follow "
            "when it is done.",
        )
        return HttpResponseRedirect(reverse("admin:releases_release_change", args=[release.pk]))


class CloneView(AdminPage):
    """Copy a release as a new version (no deployments): a backport or the next minor."""

    template = "admin/releases/release/clone.html"

    def allowed(self, request: HttpRequest) -> bool:
        return bool(self.admin.has_add_permission(request))

    def get(self, request: HttpRequest, object_id: str) -> HttpResponse:
        release = self.release(object_id)
        form = CloneForm(initial={"version": next_version(release.version)})
        return self.page(request, release, form)

    def post(self, request: HttpRequest, object_id: str) -> HttpResponse:
        release = self.release(object_id)
        form = CloneForm(request.POST)
        if not form.is_valid():
            return self.page(request, release, form)
        try:
            with changes.batch(changes.ADMIN, user=request.user):
                result = clone_release(
                    release.version, form.cleaned_data["version"], user=request.user
                )
        except ManifestRejected as exc:
            return self.page(request, release, form, errors=exc.errors)
        messages.success(
            request, f"Release {result.version} created as a copy of {release.version}."
        )
        new = Release.objects.values_list("pk", flat=True).get(version=result.version)
        return HttpResponseRedirect(reverse("admin:releases_release_change", args=[new]))

    def page(
        self, request: HttpRequest, release: Release, form: CloneForm, **context: Any
    ) -> HttpResponse:
        return self.render(
            request,
            title=f"Clone release {release.version}",
            original=release,
            form=form,
            **context,
        )


class CompareView(AdminPage):
    template = "admin/releases/release/compare.html"
    title = "Compare releases"

    def get(self, request: HttpRequest) -> HttpResponse:
        versions = list(
            Release.objects.order_by("-recorded_at").values_list("version", flat=True)[:500]
        )
        form = CompareForm(request.GET or None)
        comparison, error = None, None
        if form.is_valid():
            try:
                comparison = compare_releases(form.cleaned_data["left"], form.cleaned_data["right"])
            except UnknownRelease as exc:
                error = str(exc)
        return self.render(
            request, form=form, versions=versions, comparison=comparison, error=error
        )


class MatrixView(AdminPage):
    template = "admin/releases/release/matrix.html"
    title = "Deployment matrix"

    def get(self, request: HttpRequest) -> HttpResponse:
        form = AsOfForm(request.GET or None)
        as_of: dt.datetime | None = None
        if form.is_valid():
            as_of = form.cleaned_data["as_of"]
        return self.render(request, form=form, matrix=deployment_matrix(as_of))


def timeline(admin: ModelAdmin[Release], request: HttpRequest, object_id: str) -> HttpResponse:
    """The release's history with its pins and deployments, each change with its user and
    source, and the release as it stood after it."""
    release = get_object_or_404(Release, pk=object_id)
    if not admin.has_view_permission(request, release):
        raise PermissionDenied
    opts = admin.model._meta
    return TemplateResponse(
        request,
        "admin/releases/release/timeline.html",
        {
            **admin.admin_site.each_context(request),
            "opts": opts,
            "original": release,
            "title": f"History of release {release.version}",
            "entries": release_timeline(release.pk),
            "export_url": reverse("admin:releases_release_export", args=[release.pk, "yaml"]),
        },
    )
