"""Giving an approval: one per user, release, environment and pinned content, from the
policy's group. An approval is for the release's pins as they are when it is given (their
digest is stored with it); it stops counting when they change. The approver may say which
pins they reviewed (their digest, as the gate shows it): when those are not the release's
pins any more, nothing is recorded."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import Release
from .models import PromotionApproval, PromotionPolicy
from .pinned import current_digests


class ApprovalRefused(PermissionError):
    """The user may not approve (not in the policy's group, or no approvals asked for)."""


class PinsChanged(ValueError):
    """The pins the approver reviewed are not the release's pins now (``current``)."""

    def __init__(self, version: str, reviewed: str, current: str) -> None:
        self.current = current
        super().__init__(
            f"The pins of {version} are not the ones you reviewed (pins digest {reviewed}): "
            f"their digest is now {current}. Review them again; nothing was recorded."
        )


def check_reviewed(version: str, reviewed: str | None, current: str) -> None:
    """Raise :class:`PinsChanged` when the approver reviewed pins (digest ``reviewed``; ``None``:
    not said) other than those of the release now (``current``)."""
    if reviewed is not None and reviewed.lower() != current:
        raise PinsChanged(version, reviewed, current)


def may_approve(policy: PromotionPolicy | None, user: Any, environment: str) -> str | None:
    """Why ``user`` may not approve for ``environment`` under ``policy`` (``None``: the
    environment has none); ``None`` when they may."""
    if policy is None:
        return f"{environment} has no promotion policy, so it asks for no approvals"
    if not policy.required_approvals:
        return f"the promotion policy of {environment} asks for no approvals"
    group = policy.approval_group
    if group is not None and not user.groups.filter(pk=group.pk).exists():
        return f"{user.get_username()} is not a member of {group.name}, whose approvals count"
    return None


def approve(
    release: Release,
    environment: str,
    user: Any,
    *,
    comment: str = "",
    reviewed: str | None = None,
) -> tuple[PromotionApproval, bool]:
    """Record ``user``'s approval of ``release``'s pins as they are for ``environment``;
    ``(approval, created)``. A second approval by the same user of the same pins is the first
    one; after the pins changed, it is a new one (the earlier stays, for the record). Raises
    :class:`ApprovalRefused`, or :class:`PinsChanged` when ``reviewed`` (the digest of the
    pins the user reviewed) is given and is not the digest of the pins now."""
    policy = (
        PromotionPolicy.objects.select_related("environment", "approval_group")
        .filter(environment__name=environment)
        .first()
    )
    refusal = may_approve(policy, user, environment)
    if refusal is not None or policy is None:
        raise ApprovalRefused(refusal)
    digest = current_digests([release.pk])[release.pk]
    check_reviewed(release.version, reviewed, digest)
    given = PromotionApproval.objects.filter(
        release=release, environment=policy.environment, user=user, pins_digest=digest
    )
    found = given.first()
    if found is not None:
        return found, False
    approval = PromotionApproval(
        release=release,
        environment=policy.environment,
        user=user,
        approved_at=timezone.now(),
        comment=comment[:500],
        pins_digest=digest,
    )
    approval._history_user = user  # type: ignore[attr-defined]
    try:
        with transaction.atomic():
            approval.save()
    except IntegrityError:  # the same user, twice at once
        return given.get(), False
    return approval, True


def approval_item(approval: PromotionApproval, current_digest: str) -> dict[str, Any]:
    """An approval as the API lists it; ``current``: given for the pins the release has now
    (``current_digest``), so that it counts."""
    return {
        "release": approval.release.version,
        "environment": approval.environment.name,
        "user": approval.user.get_username(),
        "approved_at": approval.approved_at.isoformat().replace("+00:00", "Z"),
        "comment": approval.comment,
        "pins_digest": approval.pins_digest,
        "current": approval.pins_digest == current_digest,
    }
