"""The release list and page: the platform team's workbench."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import (
    Case,
    Count,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from registry.models import Environment

from ..models import LIVE_STATUSES, EnvironmentDeployment, Release, RepositoryPin
from ..notion.models import mirror_state
from .base import ReportsChangesAdmin
from .display import STATE_BY_RANK, STATE_RANK, deployment_chip, findings_list, state_badge
from .pins import EnvironmentDeploymentInline, RepositoryPinInline


def _per_release(queryset: QuerySet[Any], aggregate: Any) -> Subquery:
    """One number per release, as a correlated subquery: joining pins and deployments to
    the release list would multiply its rows."""
    return Subquery(
        queryset.filter(release=OuterRef("pk"))
        .order_by()
        .values("release")
        .annotate(value=aggregate)
        .values("value"),
        output_field=IntegerField(),
    )


_STATE_RANK_EXPRESSION = Case(
    *[When(validation_state=state, then=Value(rank)) for state, rank in STATE_RANK.items()],
    output_field=IntegerField(),
)


class ValidationFilter(admin.SimpleListFilter):
    title = "validation"
    parameter_name = "validation"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(str(state.value), str(state.label)) for state in STATE_RANK]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Release]) -> QuerySet[Release]:
        value = self.value()
        if value not in STATE_RANK:
            return queryset
        rank = STATE_RANK[value]  # type: ignore[index]
        if value == "unchecked":  # a release without pins has not been checked either
            return queryset.filter(Q(worst_rank__isnull=True) | Q(worst_rank=rank))
        return queryset.filter(worst_rank=rank)  # type: ignore[misc]


class LiveInFilter(admin.SimpleListFilter):
    title = "live in"
    parameter_name = "live_in"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            (name, name)
            for name in Environment.objects.order_by("display_order", "name").values_list(
                "name", flat=True
            )
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Release]) -> QuerySet[Release]:
        if not self.value():
            return queryset
        return queryset.filter(
            Exists(
                EnvironmentDeployment.objects.filter(
                    release=OuterRef("pk"),
                    environment__name=self.value(),
                    status__in=LIVE_STATUSES,
                )
            )
        )


class ReleaseChangeList(ChangeList):
    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> Any:
        # The chips: one query for the page's live deployments, whatever the number of rows.
        return (
            super()
            .get_queryset(request, exclude_parameters)
            .prefetch_related(
                Prefetch(
                    "deployments",
                    queryset=EnvironmentDeployment.objects.filter(status__in=LIVE_STATUSES)
                    .select_related("environment")
                    .order_by("environment__display_order", "environment__name"),
                    to_attr="live_deployments",
                )
            )
        )


@admin.register(Release)
class ReleaseAdmin(ReportsChangesAdmin):
    list_display = ["version", "pin_count", "badge", "live_in", "created_at", "source"]
    list_filter = [LiveInFilter, ValidationFilter]
    # Repository, tag or SHA (a SHA by its first characters, as people quote them).
    search_fields = [
        "version",
        "pins__repository__name",
        "pins__tag",
        "^pins__commit_sha",
    ]
    search_help_text = "A version, repository, tag, or the start of a commit SHA."
    readonly_fields = [
        "readable_findings",
        "notion_state",
        "pins_for_approval",
        "source",
        "revision",
        "recorded_at",
        "updated_at",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A stored release keeps its version: pipelines, exports and Notion pages find it by
        # that name. A new version is a clone.
        fields = list(self.readonly_fields)
        return ["version", *fields] if obj is not None else fields

    fieldsets = [
        (
            None,
            {
                "fields": [
                    "version",
                    ("created_at", "created_by"),
                    "notes",
                    "changelog_url",
                    "notion_state",
                    "pins_for_approval",
                ]
            },
        ),
        (
            "More",
            {
                "classes": ["collapse"],
                "fields": [
                    "metadata_extra",
                    "readable_findings",
                    ("source", "revision"),
                    ("recorded_at", "updated_at"),
                ],
            },
        ),
    ]
    inlines = [RepositoryPinInline, EnvironmentDeploymentInline]
    actions = ["export_selected"]
    change_form_template = "admin/releases/release/change_form.html"
    change_list_template = "admin/releases/release/change_list.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Release]:
        queryset: QuerySet[Release] = super().get_queryset(request)
        return queryset.annotate(
            pin_count=Coalesce(_per_release(RepositoryPin.objects.all(), Count("pk")), 0),
            worst_rank=_per_release(RepositoryPin.objects.all(), Max(_STATE_RANK_EXPRESSION)),
        )

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ReleaseChangeList

    # The pages' module is loaded with the URLs, not with the admin: commands that touch no
    # database (validate_manifest) do not load the import and export services.
    def get_urls(self) -> list[URLPattern]:
        from . import diff_pages, views

        wrap = self.admin_site.admin_view
        info = "releases_release"
        return [
            path("import/", wrap(views.ImportView.as_view(admin=self)), name=f"{info}_import"),
            path("matrix/", wrap(views.MatrixView.as_view(admin=self)), name=f"{info}_matrix"),
            path("compare/", wrap(views.CompareView.as_view(admin=self)), name=f"{info}_compare"),
            path(
                "environments-diff/",
                wrap(diff_pages.EnvironmentDiffView.as_view(admin=self)),
                name=f"{info}_environment_diff",
            ),
            path(
                "<path:object_id>/changes/",
                wrap(diff_pages.ReleaseChangesView.as_view(admin=self)),
                name=f"{info}_changes",
            ),
            path(
                "<path:object_id>/export/<str:format>/",
                wrap(views.ExportView.as_view(admin=self)),
                name=f"{info}_export",
            ),
            path(
                "<path:object_id>/validate/",
                wrap(views.ValidateView.as_view(admin=self)),
                name=f"{info}_validate",
            ),
            path(
                "<path:object_id>/clone/",
                wrap(views.CloneView.as_view(admin=self)),
                name=f"{info}_clone",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        from . import views

        version = (
            Release.objects.filter(pk=object_id).values_list("version", flat=True).first()
            if object_id.isdigit()
            else None
        )
        tools = {
            "can_validate": self.has_change_permission(request),
            "evidence_url": views.optional_url("api:release-evidence", version)
            if version is not None
            else None,
            "can_clone": self.has_add_permission(request),
        }
        response: HttpResponse = super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **tools}
        )
        return response

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """One timeline of the release with its pins, dependencies and deployments."""
        from . import views

        return views.timeline(self, request, object_id)

    @admin.display(description="pins", ordering="pin_count")
    def pin_count(self, release: Release) -> int:
        return int(release.pin_count)  # type: ignore[attr-defined]

    @admin.display(description="validation", ordering="worst_rank")
    def badge(self, release: Release) -> SafeString:
        rank = release.worst_rank  # type: ignore[attr-defined]
        if rank is None:
            return format_html('<span class="rr-badge rr-state-none">no pins</span>')
        return state_badge(STATE_BY_RANK[rank])

    @admin.display(description="live in")
    def live_in(self, release: Release) -> SafeString:
        deployments = getattr(release, "live_deployments", [])
        return format_html_join(
            " ",
            "{}",
            ((deployment_chip(d.environment.name, d.namespace, d.status),) for d in deployments),
        )

    @admin.display(description="Notion")
    def notion_state(self, release: Release) -> str:
        if release.pk is None:
            return "—"
        state = mirror_state(release.pk)
        parts = [f"{state['pages']} page(s) in Release Views"]
        if state["last_sent"] is not None:
            parts[0] += f", last sent {state['last_sent']:%Y-%m-%d %H:%M} UTC"
        if state["pending"]:
            parts.append(f"{state['pending']} change(s) waiting to be sent")
        if state["failed"]:
            parts.append(f"{state['failed']} failed: {state['last_error']}")
        return "; ".join(parts)

    @admin.display(description="pins digest")
    def pins_for_approval(self, release: Release) -> SafeString | str:
        """The digest of the pins as they are (what an approval is given for), and a link to
        approve them that carries it: if the pins change before the approval is saved, it is
        refused rather than given for pins the approver did not see."""
        if release.pk is None:
            return "—"
        from django.urls import reverse
        from django.utils.http import urlencode

        from ..promotion.pinned import current_digests

        digest = current_digests([release.pk])[release.pk]
        approve = reverse("admin:releases_promotionapproval_add")
        query = urlencode({"release": str(release.pk), "reviewed_pins_digest": digest})
        return format_html(
            '<code>{}</code> <a href="{}?{}">Approve these pins</a>', digest, approve, query
        )

    @admin.display(description="findings")
    def readable_findings(self, release: Release) -> SafeString:
        return findings_list(release.findings) or SafeString("—")

    @admin.action(description="Export selected releases (one manifest, or a zip of them)")
    def export_selected(self, request: HttpRequest, queryset: QuerySet[Release]) -> HttpResponse:
        from . import views

        return views.export_releases(list(queryset.values_list("version", flat=True)))
