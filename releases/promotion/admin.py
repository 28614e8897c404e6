"""Admin pages of promotion: policies (with freeze windows), approvals, overrides."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from .approvals import PinsChanged, check_reviewed, may_approve
from .models import FreezeWindow, PromotionApproval, PromotionOverride, PromotionPolicy
from .pinned import current_digests


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


class ApprovalChangeList(ChangeList):
    """The page's approvals with their releases' current pins digests (one query)."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        digests = current_digests({approval.release_id for approval in self.result_list})
        for approval in self.result_list:
            approval.current_digest = digests[approval.release_id]


class ApprovalForm(forms.ModelForm):
    reviewed_pins_digest = forms.RegexField(
        r"^[0-9a-fA-F]{64}$",
        required=False,
        label="pins digest you reviewed",
        help_text="Optional: the digest of the pins you reviewed (the gate's pins_digest; "
        "?reviewed_pins_digest= fills it in). If the release's pins are not those any more, "
        "nothing is saved.",
        widget=forms.TextInput(attrs={"size": 70}),
    )


@admin.register(PromotionApproval)
class PromotionApprovalAdmin(SimpleHistoryAdmin):
    """Approvals are given as yourself, for the release's pins as they are: the user is the
    one signed in. An approval of pins since changed stays listed and no longer counts."""

    form = ApprovalForm

    list_display = ["release", "environment", "user", "approved_at", "for_current_pins", "comment"]
    list_select_related = ["release", "environment", "user"]
    list_filter = ["environment"]
    autocomplete_fields = ["release"]
    fields = ["release", "environment", "comment"]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ApprovalChangeList

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return [*self.fields, "reviewed_pins_digest"]
        return [*self.fields, "user", "approved_at", "pins_digest", "for_current_pins"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        return ["user", "approved_at", "pins_digest", "for_current_pins"]

    @admin.display(boolean=True, description="for the current pins")
    def for_current_pins(self, approval: PromotionApproval) -> bool:
        """Given for the release's pins as they are now, so that it counts."""
        digest = getattr(approval, "current_digest", None)
        if digest is None:
            digest = current_digests([approval.release_id])[approval.release_id]
        return approval.pins_digest == digest

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, change=change, **kwargs)
        user: Any = request.user  # signed in: the admin lets no one else here

        class ApprovalAsUserForm(form):  # type: ignore[misc, valid-type]
            def clean(self) -> dict[str, Any]:
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
                refusal = may_approve(policy, user, environment.name)
                if refusal is not None:
                    raise forms.ValidationError(refusal)
                release = data.get("release")
                if release is None:
                    return data
                digest = current_digests([release.pk])[release.pk]
                try:
                    check_reviewed(
                        release.version, data.get("reviewed_pins_digest") or None, digest
                    )
                except PinsChanged as exc:
                    raise forms.ValidationError({"reviewed_pins_digest": str(exc)}) from None
                given = PromotionApproval.objects.filter(
                    release=release, environment=environment, pins_digest=digest
                )
                if given.filter(user=user).exists():
                    raise forms.ValidationError(
                        f"You have approved these pins of {release.version} for "
                        f"{environment.name} already."
                    )
                self.instance.user = user
                self.instance.approved_at = timezone.now()
                self.instance.pins_digest = digest
                return data

        return ApprovalAsUserForm

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
