"""The admin's deployment forms ask the gate before a deployment goes live.

The same :func:`releases.promotion.gate.check` the change batch enforces when it ends; asked
here so that a refusal is shown on the row that asked for it, with every unmet rule, and the
form's ``override reason`` can record it anyway.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ObjectDoesNotExist

from .. import changes
from ..models import LIVE_STATUSES
from . import gate
from .transitions import may_override, request_override


class PromotionGateForm(forms.ModelForm):
    override_reason = forms.CharField(
        required=False,
        max_length=1000,
        label="override reason",
        help_text="Only when the promotion policy refuses: record it anyway, with this reason "
        "(needs the override permission).",
        widget=forms.TextInput(attrs={"size": 18, "placeholder": "only to override"}),
    )

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        environment, status = data.get("environment"), data.get("status")
        if environment is None or status not in LIVE_STATUSES or self.errors:
            return data
        instance = self.instance
        stored = instance.stored_values() or {}
        if (
            not instance._state.adding
            and stored.get("status") in LIVE_STATUSES
            and stored.get("environment_id") == environment.pk
        ):
            return data  # live there already: no promotion
        release = data.get("release")
        if release is None:
            try:
                release = instance.release
            except ObjectDoesNotExist:
                return data
        verdict = gate.check(release, environment.name)
        if verdict.allowed:
            return data
        reason = (data.get("override_reason") or "").strip()
        batch = changes.current()
        user = batch.user if batch is not None else None
        if reason and may_override(user):
            request_override(reason)
            return data
        head = (
            f"The promotion policy of {environment.name} refuses {release.version} "
            f"(environments.{environment.name}):"
        )
        lines = [f"{result.rule}: {result.message}" for result in verdict.unmet]
        if reason:
            lines.append("override: you may not override the promotion policy")
        else:
            lines.append("override: give a reason if you hold the override permission")
        raise forms.ValidationError([head, *lines])
