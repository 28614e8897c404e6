"""Every write that makes a deployment live is checked against its environment's policy.

Writers note a deployment that becomes live (in progress or deployed) in the open change
batch: the importer's row writer (every manifest import, API write, ``record_deployment``,
git sync) through :func:`note_live`, model saves (the admin's forms, a history revert, a
shell) through the ``post_save`` receiver, a queryset's ``update()`` outside any batch
through :mod:`releases.querysets`. When the batch ends, still inside its transaction
(:data:`releases.changes.batch_ending`), each noted deployment that is still live is put to
:func:`releases.promotion.gate.check`; one refusal raises :class:`PromotionRefused` and the
whole transaction is rolled back: nothing written.

An override (a reason, from a user with ``releases.override_promotion``, or from the command
line) records a :class:`~releases.promotion.models.PromotionOverride` instead of refusing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from .. import changes
from ..importing import ManifestsRejected
from ..manifests import Finding, ManifestRejected
from ..manifests.located import join
from ..models import LIVE_STATUSES, EnvironmentDeployment, Release
from . import gate
from .models import PromotionOverride
from .transitions import _override, _states, may_override


@dataclass
class Refusal:
    release_id: int
    environment_id: int
    source: str
    path: str
    verdict: gate.Verdict


class PromotionRefused(ManifestsRejected):
    """Deployments the policies refused; each names every unmet rule, located at
    ``environments.<name>``. Nothing was written."""

    def __init__(self, refusals: list[Refusal], extra: list[Finding] | None = None) -> None:
        self.refusals = refusals
        super().__init__(
            [
                ManifestRejected(
                    refusal.source,
                    [
                        Finding(
                            "promotion-refused",
                            "error",
                            refusal.path,
                            f"{refusal.verdict.version} may not go live in "
                            f"{refusal.verdict.environment}: {result.rule}: {result.message}",
                        )
                        for result in refusal.verdict.unmet
                    ]
                    + list(extra or []),
                )
                for refusal in refusals
            ]
        )

    def as_dict(self) -> dict[str, Any]:
        """The API's 409 body: CONTRACT §3's ``{"allowed", "rules"}`` (every rule of the first
        refused deployment), and every refused deployment under ``refused``."""
        first = self.refusals[0].verdict.as_dict()
        return {
            "allowed": False,
            "rules": first["rules"],
            "refused": [refusal.verdict.as_dict() for refusal in self.refusals],
            "errors": [
                {"path": e.path, "message": e.message, "code": e.code}
                for rejection in self.rejections
                for e in rejection.errors
            ],
        }


def enforce(batch: changes.Batch) -> None:
    """Check what ``batch`` brought live; raise :class:`PromotionRefused` or record overrides."""
    state = _states.pop(batch, None)
    if state is None or not state.transitions:
        return
    found = {
        policy.environment_id: policy
        for policy in gate.policies([env for _, env in state.transitions])
    }
    if not found:
        return
    pairs = [pair for pair in state.transitions if pair[1] in found]
    live = set(
        EnvironmentDeployment.objects.filter(
            release_id__in={release for release, _ in pairs},
            environment_id__in={env for _, env in pairs},
            status__in=LIVE_STATUSES,
        ).values_list("release_id", "environment_id")
    )
    pairs = [pair for pair in pairs if pair in live]
    if not pairs:
        return
    releases = Release.objects.in_bulk({release for release, _ in pairs})
    now = timezone.now()
    refusals = []
    for release_id, environment_id in pairs:
        policy = found[environment_id]
        verdict = gate.check(releases[release_id], policy.environment.name, now=now, policy=policy)
        if not verdict.allowed:
            note = state.transitions[(release_id, environment_id)]
            path = join("environments", policy.environment.name)
            refusals.append(Refusal(release_id, environment_id, note.source, path, verdict))
    if not refusals:
        return
    given = _override.get()
    reason, trusted = (state.override, False) if state.override else (given or (None, False))
    user = batch.user
    if reason and (trusted or may_override(user)):
        _record_overrides(refusals, reason, batch)
        return
    extra = []
    if reason:
        who = user.get_username() if user is not None else "this caller"
        extra.append(
            Finding("override-forbidden", "error", "override", f"{who} may not override the policy")
        )
    raise PromotionRefused(refusals, extra)


def _record_overrides(refusals: list[Refusal], reason: str, batch: changes.Batch) -> None:
    _source, user, actor = batch.attribution[-1]
    now = timezone.now()
    for refusal in refusals:
        override = PromotionOverride(
            release_id=refusal.release_id,
            environment_id=refusal.environment_id,
            user=user,
            actor=actor or "command line",
            reason=reason,
            rules=[result.as_dict() for result in refusal.verdict.unmet],
            source=refusal.source[:500],
            recorded_at=now,
        )
        override._change_reason = f"promotion override: {reason}"[:100]  # type: ignore[attr-defined]
        override.save()
