"""The promotion rules: small named checks over plain data, each giving ``(rule, ok,
message)``. No database here; :mod:`releases.promotion.gate` gathers the facts."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

UPSTREAM = "upstream"
SOAK = "soak-time"
VALID_PINS = "valid-pins"
REACHABLE_PINS = "reachable-pins"
FREEZE = "freeze-window"
APPROVALS = "approvals"

LIVE = ("in_progress", "deployed")


class RuleResult(NamedTuple):
    rule: str
    ok: bool
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"rule": self.rule, "ok": self.ok, "message": self.message}


@dataclass(frozen=True)
class Interval:
    """A stretch of time a release was live in an environment; ``end`` None = still is.
    ``claimed``: the earlier ``deployed_at`` its writer gave, which ``start`` does not trust."""

    start: dt.datetime
    end: dt.datetime | None
    claimed: dt.datetime | None = None

    def length(self, now: dt.datetime) -> dt.timedelta:
        return max((self.end or now) - self.start, dt.timedelta(0))


@dataclass(frozen=True)
class HistoryRow:
    """One history record of a deployment: when, ``+ ~ -``, its status and deployed_at."""

    at: dt.datetime
    kind: str
    status: str
    deployed_at: dt.datetime | None


@dataclass(frozen=True)
class Window:
    """A freeze window as plain data (see ``FreezeWindow``)."""

    name: str
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    weekdays: tuple[int, ...] = ()
    start_time: dt.time | None = None
    duration: dt.timedelta | None = None
    time_zone: str = "UTC"


@dataclass(frozen=True)
class PinnedContent:
    """What an approval is given for, of one pin: what it deploys. Its position in the
    manifest and its validation (state, findings, validated_at) are no part of it."""

    repository: str
    tag: str
    commit_sha: str | None
    package_version: str | None
    url: str
    depends_on: tuple[str, ...] = ()


def pins_digest(pins: Iterable[PinnedContent]) -> str:
    """SHA-256 (hex) of a release's pinned content: the same pins give the same digest in
    any order; a changed tag, commit, package version, URL or dependency, or a pin added or
    removed, gives another."""
    canonical = sorted(
        [
            pin.repository,
            pin.tag,
            pin.commit_sha,
            pin.package_version,
            pin.url,
            sorted(pin.depends_on),
        ]
        for pin in pins
    )
    text = json.dumps(canonical, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def live_intervals(rows: Iterable[HistoryRow]) -> list[Interval]:
    """The stretches a deployment was live, from its history records in order. A stretch
    starts when the registry recorded the deployment live (the record's time) or at the
    ``deployed_at`` the record gives if that is later: a writer may say it went live after
    it was recorded, never before (a backdated ``deployed_at`` earns no soak time). A record
    that gives a live deployment another ``deployed_at`` (a redeployment) starts its stretch
    again by the same rule: from the new ``deployed_at``, never before that record. It ends
    with the record that leaves a live status (or deletes the deployment)."""
    intervals: list[Interval] = []
    start: dt.datetime | None = None
    claimed: dt.datetime | None = None
    said: dt.datetime | None = None  # the deployed_at of the stretch's latest record
    for row in rows:
        live = row.kind != "-" and row.status in LIVE
        redeployed = row.deployed_at is not None and row.deployed_at != said
        if live and (start is None or redeployed):
            start = max(row.at, row.deployed_at or row.at)
            claimed = row.deployed_at if row.deployed_at and row.deployed_at < row.at else None
        elif not live and start is not None:
            intervals.append(Interval(start, row.at, claimed))
            start = None
        said = row.deployed_at
    if start is not None:
        intervals.append(Interval(start, None, claimed))
    return intervals


def humanize(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes = seconds // 60
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    if minutes or not parts:
        parts.append(f"{minutes}m")
    return " ".join(parts)


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def upstream_rule(environment: str, intervals: Sequence[Interval]) -> RuleResult:
    """The release has been live in ``environment`` (now or before)."""
    if not intervals:
        return RuleResult(UPSTREAM, False, f"never live in {environment}, which must run it first")
    last = intervals[-1]
    if last.end is None:
        return RuleResult(UPSTREAM, True, f"live in {environment} since {stamp(last.start)}")
    return RuleResult(
        UPSTREAM,
        True,
        f"was live in {environment} from {stamp(last.start)} to {stamp(last.end)}",
    )


def soak_rule(
    environment: str, soak: dt.timedelta, intervals: Sequence[Interval], now: dt.datetime
) -> RuleResult:
    """The release has been live in ``environment`` for ``soak`` at a stretch."""
    if not intervals:
        return RuleResult(
            SOAK, False, f"needs {humanize(soak)} live in {environment}; never live there"
        )
    longest = max(intervals, key=lambda interval: interval.length(now))
    lived = longest.length(now)
    if lived >= soak:
        return RuleResult(
            SOAK, True, f"live in {environment} for {humanize(lived)} (needs {humanize(soak)})"
        )
    message = f"live in {environment} for {humanize(lived)} of the {humanize(soak)} required"
    if longest.end is None:
        message += f"; allowed from {stamp(longest.start + soak)}"
    if longest.claimed is not None and stamp(longest.claimed) != stamp(longest.start):
        message += (
            f"; counted from {stamp(longest.start)}, when the registry recorded it live, "
            f"not from its deployed_at {stamp(longest.claimed)}"
        )
    return RuleResult(SOAK, False, message)


def valid_pins_rule(states: dict[str, list[str]]) -> RuleResult:
    """Every pin valid (warnings allowed): ``states`` maps a pin state to its repositories.
    An unreachable pin is not known to be invalid: it is :func:`reachable_pins_rule`'s (and
    blocks only when the policy says so)."""
    blocking = ["invalid", "unchecked"]
    bad = [(state, name) for state in blocking for name in states.get(state, [])]
    if not bad:
        return RuleResult(VALID_PINS, True, "every pin is valid")
    return RuleResult(VALID_PINS, False, "pins not valid: " + _listed(bad))


def reachable_pins_rule(states: dict[str, list[str]]) -> RuleResult:
    names = states.get("unreachable", [])
    if not names:
        return RuleResult(REACHABLE_PINS, True, "every pin's repository was reached")
    return RuleResult(
        REACHABLE_PINS, False, "repositories unreachable: " + _listed([("", n) for n in names])
    )


def _listed(items: list[tuple[str, str]], limit: int = 10) -> str:
    shown = [f"{name} ({state})" if state else name for state, name in items[:limit]]
    more = len(items) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def open_window(window: Window, now: dt.datetime) -> tuple[dt.datetime, dt.datetime] | None:
    """The occurrence of ``window`` that contains ``now`` (start, end), if any."""
    if not window.weekdays:
        if window.starts_at and window.ends_at and window.starts_at <= now < window.ends_at:
            return window.starts_at, window.ends_at
        return None
    if window.start_time is None or not window.duration:
        return None
    zone = zoneinfo.ZoneInfo(window.time_zone)
    today = now.astimezone(zone).date()
    # Occurrences that began up to the window's length ago (across midnight, across days).
    for back in range(window.duration.days + 2):
        day = today - dt.timedelta(days=back)
        if day.weekday() not in window.weekdays:
            continue
        start = dt.datetime.combine(day, window.start_time, tzinfo=zone)
        end = (start.astimezone(dt.UTC) + window.duration).astimezone(zone)
        if start <= now < end:
            return start, end
    return None


def freeze_rule(windows: Sequence[Window], now: dt.datetime) -> RuleResult:
    """No freeze window is open now."""
    frozen = []
    for window in windows:
        found = open_window(window, now)
        if found is not None:
            _start, end = found
            zone = window.time_zone if window.weekdays else "UTC"
            local = end.astimezone(zoneinfo.ZoneInfo(zone))
            frozen.append(f"{window.name} until {local:%Y-%m-%d %H:%M} {zone} ({stamp(end)})")
    if frozen:
        return RuleResult(FREEZE, False, "frozen: " + "; ".join(frozen))
    return RuleResult(FREEZE, True, "no freeze window is open")


def approvals_rule(
    required: int, group: str | None, approvers: Sequence[str], earlier: Sequence[str] = ()
) -> RuleResult:
    """At least ``required`` approvals from members of ``group`` for the release's pins as
    they are; ``earlier``: members whose approval was for pins since changed (none counts)."""
    who = f" from {group}" if group else ""
    have = len(approvers)
    if have >= required:
        return RuleResult(
            APPROVALS, True, f"{have} of {required} approvals{who}: {', '.join(approvers)}"
        )
    by = f" (by {', '.join(approvers)})" if approvers else ""
    message = f"{have} of {required} approvals{who}{by}"
    if earlier:
        were = "approval is" if len(earlier) == 1 else "approvals are"
        message += f"; {len(earlier)} {were} for earlier pins ({', '.join(earlier)})"
    return RuleResult(APPROVALS, False, message)
