"""Two environments side by side, each now or at a moment in the past: the releases live in
one and not the other, and pin by pin how their newest live releases differ.

"Live" and "at a moment" are :func:`~releases.api.representations.live_in_environments`'s
(the answer of ``/api/environments/{name}/?at=``); the pin diff is
:func:`~releases.comparing.compare_manifests`'s (the admin's compare page). A fixed number of
queries, whatever the number of releases and pins.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from registry.models import Environment

from .comparing import Comparison, compare_manifests
from .deployments_matrix import version_order
from .exporting import load_manifests
from .history import manifest_as_of
from .manifests import Manifest, format_timestamp


class UnknownEnvironment(LookupError):
    """An environment the registry has never held."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"No environment {name}.")


@dataclass
class Side:
    """One environment at one moment: its live releases, oldest deployment first."""

    name: str
    at: dt.datetime | None  # None: now
    releases: list[dict[str, Any]]

    @property
    def newest(self) -> dict[str, Any] | None:
        """The live release deployed last (one still in progress without a time counts as
        the newest; ties go to the higher version)."""
        if not self.releases:
            return None
        return max(
            self.releases,
            key=lambda r: (
                r["deployed_at"] is None,
                r["deployed_at"] or "",
                version_order(r["version"]),
            ),
        )

    @property
    def versions(self) -> set[str]:
        return {release["version"] for release in self.releases}


@dataclass
class EnvironmentDiff:
    a: Side
    b: Side
    only_in_a: list[dict[str, Any]]
    only_in_b: list[dict[str, Any]]
    in_both: list[str]
    # The newest live releases compared pin by pin (None when either side runs nothing).
    comparison: Comparison | None

    @property
    def sides(self) -> tuple[Side, Side]:
        return self.a, self.b

    @property
    def changed_pins(self) -> list[Any]:
        if self.comparison is None:
            return []
        return [row for row in self.comparison.pins if row.status != "same"]


def environment_exists(name: str) -> bool:
    return (
        Environment.objects.filter(name=name).exists()
        or Environment.history.filter(name=name).exists()
    )


def diff_environments(
    a: str, b: str, *, a_at: dt.datetime | None = None, b_at: dt.datetime | None = None
) -> EnvironmentDiff:
    """Environment ``a`` (at ``a_at``, default now) against ``b`` (at ``b_at``). Raises
    :class:`UnknownEnvironment` for a name never held."""
    # The API module holds the one reading of "live at a moment"; imported here, not copied.
    from .api.representations import live_in_environments

    for name in (a, b):
        if not environment_exists(name):
            raise UnknownEnvironment(name)
    now = timezone.now()
    sides = []
    for name, at in ((a, a_at), (b, b_at)):
        found = live_in_environments([name], at, now)
        sides.append(Side(name, at, found[0]["releases"] if found else []))
    left, right = sides
    newest_left, newest_right = left.newest, right.newest
    comparison = None
    if newest_left is not None and newest_right is not None:
        old, new = _manifests(
            (newest_left["version"], left.at), (newest_right["version"], right.at)
        )
        if old is not None and new is not None:
            comparison = compare_manifests(old, new)
    return EnvironmentDiff(
        left,
        right,
        [release for release in left.releases if release["version"] not in right.versions],
        [release for release in right.releases if release["version"] not in left.versions],
        sorted(left.versions & right.versions, key=version_order),
        comparison,
    )


def _manifests(*wanted: tuple[str, dt.datetime | None]) -> list[Manifest | None]:
    """Each (version, moment) as a manifest: stored now (one load for all), or as it stood
    (``None`` if its history has no record then, which a live deployment rules out)."""
    now_versions = list(dict.fromkeys(version for version, at in wanted if at is None))
    current = {m.version: m for m in load_manifests(now_versions)} if now_versions else {}
    return [
        current[version] if at is None else manifest_as_of(version, at) for version, at in wanted
    ]


# --- as the API answers it ---------------------------------------------------------------------


def _entry(entry: Any) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "tag": entry.tag,
        "commit_sha": entry.commit_sha,
        "package_version": entry.package_version,
        "url": entry.url,
        "depends_on": list(entry.depends_on),
    }


def environment_diff_data(diff: EnvironmentDiff) -> dict[str, Any]:
    """The diff as plain data (``GET /api/environments/{a}/diff/{b}``)."""
    now = format_timestamp(timezone.now())

    def side(s: Side) -> dict[str, Any]:
        newest = s.newest
        return {
            "name": s.name,
            "at": format_timestamp(s.at) if s.at is not None else now,
            "releases": s.releases,
            "newest": newest["version"] if newest is not None else None,
        }

    comparison = diff.comparison
    pins = []
    same = 0
    if comparison is not None:
        for row in comparison.pins:
            if row.status == "same":
                same += 1
                continue
            pins.append(
                {
                    "repository": row.name,
                    "status": row.status,
                    "changed": sorted(row.changed),
                    "a": _entry(row.left),
                    "b": _entry(row.right),
                }
            )
    return {
        "a": side(diff.a),
        "b": side(diff.b),
        "only_in_a": diff.only_in_a,
        "only_in_b": diff.only_in_b,
        "in_both": diff.in_both,
        "pins": pins,
        "same_pins": same,
        "compared": comparison is not None,
    }
