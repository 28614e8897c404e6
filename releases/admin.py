"""Plain admin registrations: every model visible and editable, with history.

Every view that writes runs in one change batch (:mod:`releases.changes`, source "admin"):
a release saved with its pins and deployments is one change and one revision. Forms change
only what the user changed (:mod:`releases.forms`); pin states are derived, never edited.
"""

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from simple_history.admin import SimpleHistoryAdmin

from . import changes
from .forms import EnvironmentDeploymentForm, KeepsStoredValuesForm
from .models import EnvironmentDeployment, PinDependency, Release, RepositoryPin

# Derived from findings by releases.pin_state: shown, never edited.
PIN_STATE_FIELDS = ["validation_state", "findings", "validated_at"]


def _admin_batch(request: HttpRequest) -> AbstractContextManager[Any]:
    if request.method == "POST":
        return changes.batch(changes.ADMIN, user=request.user)
    return nullcontext()


class ReportsChangesAdmin(SimpleHistoryAdmin):
    """Runs each writing view (add, change, delete, list actions, history revert) in one
    change batch."""

    form = KeepsStoredValuesForm

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        with _admin_batch(request):
            response: HttpResponse = super().changeform_view(
                request, object_id, form_url, extra_context
            )
        return response

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        with _admin_batch(request):
            response: HttpResponse = super().delete_view(request, object_id, extra_context)
        return response

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        with _admin_batch(request):
            response: HttpResponse = super().changelist_view(request, extra_context)
        return response

    def history_form_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        with _admin_batch(request):
            response: HttpResponse = super().history_form_view(request, *args, **kwargs)
        return response


class RepositoryPinInline(admin.TabularInline):
    model = RepositoryPin
    form = KeepsStoredValuesForm
    fields = [
        "position",
        "repository",
        "tag",
        "commit_sha",
        "package_version",
        "url",
        "validation_state",
    ]
    autocomplete_fields = ["repository"]
    extra = 0
    ordering = ["position", "pk"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[RepositoryPin]:
        return super().get_queryset(request).select_related("repository")

    # On a stored release the repository of each row is shown, not offered as a widget: a
    # widget per row costs a query per row. Pins are added by importing a manifest or on
    # the pin page.
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["repository", "validation_state"] if obj is not None else ["validation_state"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_add_permission(request, obj)


class EnvironmentDeploymentInline(admin.TabularInline):
    model = EnvironmentDeployment
    form = EnvironmentDeploymentForm
    fields = ["position", "environment", "namespace", "deployed_at", "status"]
    extra = 0
    ordering = ["position", "pk"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EnvironmentDeployment]:
        return super().get_queryset(request).select_related("environment")


@admin.register(Release)
class ReleaseAdmin(ReportsChangesAdmin):
    list_display = [
        "version",
        "created_at",
        "created_by",
        "pin_count",
        "deployment_count",
        "source",
        "updated_at",
    ]
    search_fields = ["version", "notes", "created_by"]
    readonly_fields = ["findings", "source", "revision", "recorded_at", "updated_at"]
    fields = [
        "version",
        "created_at",
        "created_by",
        "notes",
        "changelog_url",
        "metadata_extra",
        "findings",
        "source",
        "revision",
        "recorded_at",
        "updated_at",
    ]
    inlines = [RepositoryPinInline, EnvironmentDeploymentInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Release]:
        queryset: QuerySet[Release] = super().get_queryset(request)
        return queryset.annotate(
            pin_count=Count("pins", distinct=True),
            deployment_count=Count("deployments", distinct=True),
        )

    @admin.display(description="pins", ordering="pin_count")
    def pin_count(self, release: Release) -> int:
        return int(release.pin_count)  # type: ignore[attr-defined]

    @admin.display(description="deployments", ordering="deployment_count")
    def deployment_count(self, release: Release) -> int:
        return int(release.deployment_count)  # type: ignore[attr-defined]


@admin.register(RepositoryPin)
class RepositoryPinAdmin(ReportsChangesAdmin):
    list_display = [
        "release",
        "repository",
        "tag",
        "commit_sha",
        "package_version",
        "validation_state",
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
        *PIN_STATE_FIELDS,
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A pin belongs to one release for life (its dependencies and history are that
        # release's); the model refuses a move as well.
        return ["release", *PIN_STATE_FIELDS] if obj is not None else PIN_STATE_FIELDS


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


from .notion import admin as notion_admin  # noqa: E402,F401
