"""Two stored releases side by side: which pins and deployments differ, field by field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .exporting import load_manifests
from .manifests import EnvironmentEntry, Manifest, RepositoryEntry

PIN_FIELDS = ("tag", "commit_sha", "package_version", "url", "depends_on")
DEPLOYMENT_FIELDS = ("namespace", "status", "deployed_at")


@dataclass
class Row:
    """One repository (or environment) of either release."""

    name: str
    left: Any
    right: Any
    changed: set[str] = field(default_factory=set)

    @property
    def status(self) -> str:
        if self.left is None:
            return "added"
        if self.right is None:
            return "removed"
        return "changed" if self.changed else "same"


@dataclass
class Comparison:
    left: Manifest
    right: Manifest
    pins: list[Row]
    deployments: list[Row]

    @property
    def changed_pins(self) -> int:
        return sum(row.status != "same" for row in self.pins)


def _rows(left: dict[str, Any], right: dict[str, Any], fields: tuple[str, ...]) -> list[Row]:
    names = list(left) + [name for name in right if name not in left]
    rows = []
    for name in names:
        old, new = left.get(name), right.get(name)
        changed = (
            {f for f in fields if getattr(old, f) != getattr(new, f)}
            if old is not None and new is not None
            else set()
        )
        rows.append(Row(name, old, new, changed))
    return rows


def compare_releases(left_version: str, right_version: str) -> Comparison:
    """Compare two stored releases (four queries); raises
    :class:`~releases.exporting.UnknownRelease` naming any version not stored."""
    manifests = {m.version: m for m in load_manifests([left_version, right_version])}
    return compare_manifests(manifests[left_version], manifests[right_version])


def compare_manifests(left: Manifest, right: Manifest) -> Comparison:
    """Two manifests (stored now, or as they stood at some moment) side by side."""
    pins_left: dict[str, RepositoryEntry] = {entry.name: entry for entry in left.repositories}
    pins_right: dict[str, RepositoryEntry] = {entry.name: entry for entry in right.repositories}
    envs_left: dict[str, EnvironmentEntry] = dict(left.environments)
    envs_right: dict[str, EnvironmentEntry] = dict(right.environments)
    return Comparison(
        left,
        right,
        _rows(pins_left, pins_right, PIN_FIELDS),
        _rows(envs_left, envs_right, DEPLOYMENT_FIELDS),
    )
