"""Admin pages of promotion: policies (with freeze windows), approvals, overrides."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from .approvals import may_approve
from .models import FreezeWindow, PromotionApproval, PromotionOverride, PromotionPolicy


class FreezeWindowInline(admin.StackedInline):
    model = FreezeWindow
    extra = 0
    fieldsets = [
        (None, {"fields": ["name"]}),
        ("One-off", {"fields": [("starts_at", "ends_at")]}),
        ("Recurring", {"fields": [("weekdays", "start_time", "duration", "time_zone")]}),
    ]


@admin.register(PromotionPolicy)
class PromotionPolicyAdmin(SimpleHistoryAdmin):
    list_display = [
        "environment",
        "upstream_names",
        "soak_time",
        "require_valid_pins",
        "unreachable_blocks",
        "required_approvals",
        "approval_group",
    ]
    list_select_related = ["environment", "approval_group"]
    filter_horizontal = ["upstream"]
    inlines = [FreezeWindowInline]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("upstream")

    @admin.display(description="upstream")
    def upstream_names(self, policy: PromotionPolicy) -> str:
        return ", ".join(env.name for env in policy.upstream.all()) or "—"


@admin.register(FreezeWindow)
class FreezeWindowAdmin(SimpleHistoryAdmin):
    list_display = ["name", "policy", "starts_at", "ends_at", "weekdays", "start_time", "duration"]
    list_select_related = ["policy__environment"]


@admin.register(PromotionApproval)
class PromotionApprovalAdmin(SimpleHistoryAdmin):
    """Approvals are given as yourself: the user is the one signed in."""

    list_display = ["release", "environment", "user", "approved_at", "comment"]
    list_select_related = ["release", "environment", "user"]
    list_filter = ["environment"]
    autocomplete_fields = ["release"]
    fields = ["release", "environment", "comment"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, change=change, **kwargs)
        user = request.user

        class ApprovalForm(form):  # type: ignore[misc, valid-type]
            def clean(self) -> dict[str, Any]:
                from django import forms
                from django.utils import timezone

                from .models import PromotionPolicy

                data: dict[str, Any] = super().clean() or {}
                environment = data.get("environment")
                if environment is None or self.instance.pk is not None:
                    return data
                policy = (
                    PromotionPolicy.objects.select_related("environment", "approval_group")
                    .filter(environment=environment)
                    .first()
                )
                refusal = may_approve(policy, user)
                if refusal is not None:
                    raise forms.ValidationError(refusal)
                self.instance.user = user
                self.instance.approved_at = timezone.now()
                return data

        return ApprovalForm

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # an approval is given or withdrawn (deleted), not edited


@admin.register(PromotionOverride)
class PromotionOverrideAdmin(SimpleHistoryAdmin):
    """Written when a refused deployment is recorded anyway; read here."""

    list_display = ["recorded_at", "release", "environment", "actor", "reason"]
    list_select_related = ["release", "environment"]
    list_filter = ["environment"]
    readonly_fields = [
        "release",
        "environment",
        "user",
        "actor",
        "reason",
        "rules",
        "source",
        "recorded_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
