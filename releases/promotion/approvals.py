"""Giving an approval: one per user, release and environment, from the policy's group."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import Release
from .models import PromotionApproval, PromotionPolicy


class ApprovalRefused(PermissionError):
    """The user may not approve (not in the policy's group, or no approvals asked for)."""


def may_approve(policy: PromotionPolicy | None, user: Any) -> str | None:
    """Why ``user`` may not approve under ``policy``; ``None`` when they may."""
    if policy is None or not policy.required_approvals:
        name = policy.environment.name if policy is not None else "this environment"
        return f"the promotion policy of {name} asks for no approvals"
    group = policy.approval_group
    if group is not None and not user.groups.filter(pk=group.pk).exists():
        return f"{user.get_username()} is not a member of {group.name}, whose approvals count"
    return None


def approve(
    release: Release, environment: str, user: Any, *, comment: str = ""
) -> tuple[PromotionApproval, bool]:
    """Record ``user``'s approval of ``release`` for ``environment``; ``(approval, created)``.
    A second approval by the same user is the first one. Raises :class:`ApprovalRefused`."""
    policy = (
        PromotionPolicy.objects.select_related("environment", "approval_group")
        .filter(environment__name=environment)
        .first()
    )
    refusal = may_approve(policy, user)
    if refusal is not None or policy is None:
        raise ApprovalRefused(refusal)
    found = PromotionApproval.objects.filter(
        release=release, environment=policy.environment, user=user
    ).first()
    if found is not None:
        return found, False
    approval = PromotionApproval(
        release=release,
        environment=policy.environment,
        user=user,
        approved_at=timezone.now(),
        comment=comment[:500],
    )
    approval._history_user = user  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            approval.save()
    except IntegrityError:  # the same user, twice at once
        return PromotionApproval.objects.get(
            release=release, environment=policy.environment, user=user
        ), False
    return approval, True


def approval_item(approval: PromotionApproval) -> dict[str, Any]:
    return {
        "release": approval.release.version,
        "environment": approval.environment.name,
        "user": approval.user.get_username(),
        "approved_at": approval.approved_at.isoformat().replace("+00:00", "Z"),
        "comment": approval.comment,
    }
