"""The gate: may ``release`` go live in ``environment`` now? Every rule's result.

The facts come from the database in a fixed number of queries (the policy with its upstream
environments and freeze windows, the pins, the upstream deployments' history, the approvals),
whatever the number of releases and pins; the rules are :mod:`releases.promotion.rules`.
The pins are read once for both their validation and the digest of what they pin, which an
approval must have been given for to count.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone

from registry.models import Environment

from ..models import EnvironmentDeployment, Release, ValidationState
from . import rules
from .models import FreezeWindow, PromotionApproval, PromotionPolicy
from .pinned import PinFacts, digest_of, pin_facts
from .rules import RuleResult


@dataclass
class Verdict:
    """The gate's answer for one release and environment."""

    version: str
    environment: str
    rules: list[RuleResult] = field(default_factory=list)
    #: The digest of the release's pins, which an approval is given for (``None``: the policy
    #: asks for no approvals).
    pins_digest: str | None = None

    @property
    def allowed(self) -> bool:
        return all(result.ok for result in self.rules)

    @property
    def unmet(self) -> list[RuleResult]:
        return [result for result in self.rules if not result.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "release": self.version,
            "environment": self.environment,
            "rules": [result.as_dict() for result in self.rules],
            "pins_digest": self.pins_digest,
        }


def policies(environment_ids: list[int] | None = None, *, names: list[str] | None = None) -> Any:
    """Policies with what the gate reads of them (three queries for any number)."""
    queryset = PromotionPolicy.objects.select_related("environment", "approval_group")
    if environment_ids is not None:
        queryset = queryset.filter(environment_id__in=environment_ids)
    if names is not None:
        queryset = queryset.filter(environment__name__in=names)
    return queryset.prefetch_related(
        Prefetch("upstream", queryset=Environment.objects.order_by("display_order", "name")),
        Prefetch("freeze_windows", queryset=FreezeWindow.objects.order_by("name", "pk")),
    )


def check(
    release: Release | None,
    environment: str,
    *,
    now: dt.datetime | None = None,
    policy: PromotionPolicy | Any | None = ...,
) -> Verdict:
    """Every rule of ``environment``'s policy for ``release`` (``None``: a release not stored
    yet, which has no pins, deployments or approvals). No policy: allowed, with no rules."""
    now = now or timezone.now()
    if policy is ...:
        policy = policies(names=[environment]).first()
    version = release.version if release is not None else ""
    verdict = Verdict(version, environment)
    if policy is None:
        return verdict
    release_id = release.pk if release is not None else None
    upstream = list(policy.upstream.all())
    if upstream:
        by_environment = _upstream_intervals(release_id, [env.pk for env in upstream])
        for env in upstream:
            intervals = by_environment.get(env.pk, [])
            verdict.rules.append(rules.upstream_rule(env.name, intervals))
            if policy.soak_time:
                verdict.rules.append(rules.soak_rule(env.name, policy.soak_time, intervals, now))
    pins: list[PinFacts] = []
    if release_id is not None and (
        policy.require_valid_pins or policy.unreachable_blocks or policy.required_approvals
    ):
        pins = pin_facts([release_id]).get(release_id, [])
    if policy.require_valid_pins or policy.unreachable_blocks:
        states = _pins_not_valid(pins)
        if policy.require_valid_pins:
            verdict.rules.append(rules.valid_pins_rule(states))
        if policy.unreachable_blocks:
            verdict.rules.append(rules.reachable_pins_rule(states))
    windows = list(policy.freeze_windows.all())
    if windows:
        verdict.rules.append(rules.freeze_rule([_window(w) for w in windows], now))
    if policy.required_approvals:
        group = policy.approval_group
        verdict.pins_digest = digest_of(pins)
        current, earlier = approvers(
            release_id,
            policy.environment_id,
            group.pk if group else None,
            verdict.pins_digest,
        )
        verdict.rules.append(
            rules.approvals_rule(
                policy.required_approvals,
                group.name if group is not None else None,
                current,
                earlier,
            )
        )
    return verdict


def approvers(
    release_id: int | None, environment_id: int, group_id: int | None, digest: str
) -> tuple[list[str], list[str]]:
    """The user names whose approvals count (members of ``group_id``, if given, who approved
    the pins whose digest is ``digest``), and those who approved only earlier pins."""
    if release_id is None:
        return [], []
    approvals = PromotionApproval.objects.filter(
        release_id=release_id, environment_id=environment_id
    )
    if group_id is not None:
        approvals = approvals.filter(user__groups__id=group_id)
    given = approvals.order_by("approved_at", "pk").values_list("user__username", "pins_digest")
    current: list[str] = []
    earlier: list[str] = []
    for name, pins_digest in given:
        if pins_digest == digest:
            current.append(name)
        elif name not in earlier:
            earlier.append(name)
    return current, [name for name in earlier if name not in current]


def _upstream_intervals(
    release_id: int | None, environment_ids: list[int]
) -> dict[int, list[rules.Interval]]:
    if release_id is None:
        return {}
    rows: dict[int, list[rules.HistoryRow]] = defaultdict(list)
    records = (
        EnvironmentDeployment.history.filter(
            release_id=release_id, environment_id__in=environment_ids
        )
        .order_by("history_date", "history_id")
        .values_list("environment_id", "history_date", "history_type", "status", "deployed_at")
    )
    for environment_id, at, kind, status, deployed_at in records:
        rows[environment_id].append(rules.HistoryRow(at, kind, status, deployed_at))
    return {env: rules.live_intervals(history) for env, history in rows.items()}


def _pins_not_valid(pins: list[PinFacts]) -> dict[str, list[str]]:
    states: dict[str, list[str]] = defaultdict(list)
    fine = (ValidationState.VALID, ValidationState.WARNING)
    for pin in pins:
        state = pin.state
        if state in fine and pin.validated_at is not None:
            continue
        # A pin whose only findings are offline warnings (a version that does not match its
        # tag, say) is in the "warning" state before any git host was asked: until a
        # validation run has checked it online, it is unchecked for the gate.
        if state in fine:
            state = ValidationState.UNCHECKED
        states[state].append(pin.content.repository)
    return states


def _window(window: FreezeWindow) -> rules.Window:
    return rules.Window(
        name=window.name,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        weekdays=window.day_numbers() if window.recurring else (),
        start_time=window.start_time,
        duration=window.duration,
        time_zone=window.time_zone,
    )
