"""Pins, their dependencies and deployments: their own pages and the release page's tables."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.safestring import SafeString
from import_export.admin import ImportExportMixin

from ..forms import EnvironmentDeploymentForm, PinInlineForm
from ..models import EnvironmentDeployment, PinDependency, RepositoryPin
from .base import PIN_STATE_FIELDS, ReportsChangesAdmin
from .display import findings_list, state_badge
from .pin_table import FORMATS, PinResource

INLINE_TEMPLATE = "admin/releases/edit_inline/tabular.html"


class RepositoryPinInline(admin.TabularInline):
    """The release's pins. Stored rows show their repository as text (a pin keeps it); new
    rows pick one, so a stored release takes a new pin here (the first step of a backport)."""

    model = RepositoryPin
    form = PinInlineForm
    template = INLINE_TEMPLATE
    fields = [
        "position",
        "repository",
        "tag",
        "commit_sha",
        "package_version",
        "url",
        "depends_on_names",
        "state",
    ]
    readonly_fields = ["depends_on_names", "state"]
    autocomplete_fields = ["repository"]
    show_change_link = True
    extra = 0
    ordering = ["position", "pk"]
    classes = ["pin-table"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[RepositoryPin]:
        return (
            super()
            .get_queryset(request)
            .select_related("repository")
            .prefetch_related(
                Prefetch(
                    "dependency_links",
                    queryset=PinDependency.objects.select_related(
                        "depends_on__repository"
                    ).order_by("position", "pk"),
                    to_attr="shown_links",
                )
            )
        )

    @admin.display(description="depends on")
    def depends_on_names(self, pin: RepositoryPin) -> str:
        links = getattr(pin, "shown_links", None)
        if not pin.pk or links is None:
            return ""
        return ", ".join(link.depends_on.repository.name for link in links) or "—"

    @admin.display(description="validation")
    def state(self, pin: RepositoryPin) -> SafeString:
        if not pin.pk:
            return SafeString("")
        return format_html("{}{}", state_badge(pin.validation_state), findings_list(pin.findings))


class EnvironmentDeploymentInline(admin.TabularInline):
    model = EnvironmentDeployment
    form = EnvironmentDeploymentForm
    template = INLINE_TEMPLATE
    fields = ["position", "environment", "namespace", "deployed_at", "status", "override_reason"]
    extra = 0
    ordering = ["position", "pk"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EnvironmentDeployment]:
        return super().get_queryset(request).select_related("environment")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        field = formset.form.base_fields.get("environment")
        if isinstance(field, forms.ModelChoiceField):
            # The environments once for the page, not once per deployment row.
            field.choices = list(field.iterator(field))
        return formset


@admin.register(RepositoryPin)
class RepositoryPinAdmin(ImportExportMixin, ReportsChangesAdmin):
    resource_classes = [PinResource]
    formats = FORMATS
    list_display = [
        "release",
        "repository",
        "tag",
        "commit_sha",
        "package_version",
        "badge",
    ]
    list_filter = ["validation_state", "release"]
    list_select_related = ["release", "repository"]
    search_fields = ["repository__name", "tag", "commit_sha", "release__version"]
    autocomplete_fields = ["release", "repository"]
    fields = [
        "release",
        "repository",
        "position",
        "tag",
        "commit_sha",
        "package_version",
        "url",
        "validation_state",
        "readable_findings",
        "validated_at",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A pin belongs to one release for life (its dependencies and history are that
        # release's); the model refuses a move as well.
        shown = [*PIN_STATE_FIELDS, "readable_findings"]
        return ["release", *shown] if obj is not None else shown

    # Importing pins writes releases: the same people who may add and change pins.
    def has_import_permission(self, request: HttpRequest) -> bool:
        return bool(self.has_add_permission(request) and self.has_change_permission(request))

    def has_export_permission(self, request: HttpRequest) -> bool:
        return bool(self.has_view_permission(request))

    @admin.display(description="validation", ordering="validation_state")
    def badge(self, pin: RepositoryPin) -> SafeString:
        return state_badge(pin.validation_state)

    @admin.display(description="findings")
    def readable_findings(self, pin: RepositoryPin) -> SafeString:
        return findings_list(pin.findings) or SafeString("—")


@admin.register(PinDependency)
class PinDependencyAdmin(ReportsChangesAdmin):
    list_display = ["pin", "depends_on", "position"]
    list_select_related = ["pin__release", "pin__repository", "depends_on__repository"]
    raw_id_fields = ["pin", "depends_on"]


@admin.register(EnvironmentDeployment)
class EnvironmentDeploymentAdmin(ReportsChangesAdmin):
    form = EnvironmentDeploymentForm
    list_display = ["release", "environment", "namespace", "deployed_at", "status"]
    list_filter = ["environment", "status"]
    list_select_related = ["release", "environment"]
    search_fields = ["release__version", "namespace", "environment__name"]


__all__ = ["EnvironmentDeploymentInline", "RepositoryPinInline"]
