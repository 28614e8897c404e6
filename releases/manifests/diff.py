"""Compare two manifests: what an import would change, or how two releases differ."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .model import EnvironmentEntry, Manifest, RepositoryEntry
from .writer import canonical_metadata, format_timestamp

PIN_FIELDS = ("tag", "commit_sha", "package_version", "url", "depends_on")
RELEASE_FIELDS = ("created_at", "created_by", "metadata")
# ``status_explicit``: whether the file wrote the status; a change of it changes the export.
ENVIRONMENT_FIELDS = ("namespace", "deployed_at", "status", "status_explicit")

Change = tuple[Any, Any]


def _plain(value: Any) -> Any:
    if hasattr(value, "astimezone"):
        return format_timestamp(value)
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass
class ManifestDiff:
    """Field-by-field differences from ``old`` to ``new``; empty when they hold the same data."""

    version: str
    created: bool = False
    release: dict[str, Change] = field(default_factory=dict)
    added_pins: list[str] = field(default_factory=list)
    removed_pins: list[str] = field(default_factory=list)
    changed_pins: dict[str, dict[str, Change]] = field(default_factory=dict)
    reordered: bool = False
    added_environments: list[str] = field(default_factory=list)
    removed_environments: list[str] = field(default_factory=list)
    changed_environments: dict[str, dict[str, Change]] = field(default_factory=dict)
    environments_reordered: bool = False
    # Deployments an import leaves alone because the file does not mention them.
    kept_environments: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.release
            or self.added_pins
            or self.removed_pins
            or self.changed_pins
            or self.reordered
            or self.added_environments
            or self.removed_environments
            or self.changed_environments
            or self.environments_reordered
        )

    def summary(self) -> str:
        """One line for a terminal: created / updated with what changed / unchanged."""
        if self.created:
            pins = _count(self.added_pins, "pin")
            return f"created ({pins}, {_count(self.added_environments, 'deployment')})"
        kept = ""
        if self.kept_environments:
            names = ", ".join(self.kept_environments)
            kept = (
                f" (kept {_count(self.kept_environments, 'deployment')} not in the file: {names})"
            )
        if not self.changed:
            return "unchanged" + kept
        parts = [f"{name} changed" for name in self.release]
        parts += [f"+{name}" for name in self.added_pins]
        parts += [f"-{name}" for name in self.removed_pins]
        for name, changes in self.changed_pins.items():
            parts += [
                f"{name} {key} {_show(old)} -> {_show(new)}" for key, (old, new) in changes.items()
            ]
        if self.reordered:
            parts.append("repositories reordered")
        parts += [f"+deployment {name}" for name in self.added_environments]
        parts += [f"-deployment {name}" for name in self.removed_environments]
        for name, changes in self.changed_environments.items():
            parts += [
                f"{name} {key} {_show(old)} -> {_show(new)}" for key, (old, new) in changes.items()
            ]
        if self.environments_reordered:
            parts.append("environments reordered")
        return "updated: " + "; ".join(parts) + kept

    def as_dict(self) -> dict[str, Any]:
        def changes(items: dict[str, Change]) -> dict[str, Any]:
            return {
                key: {"old": _plain(old), "new": _plain(new)} for key, (old, new) in items.items()
            }

        return {
            "version": self.version,
            "created": self.created,
            "changed": self.changed,
            "release": changes(self.release),
            "pins": {
                "added": self.added_pins,
                "removed": self.removed_pins,
                "changed": {name: changes(items) for name, items in self.changed_pins.items()},
                "reordered": self.reordered,
            },
            "environments": {
                "added": self.added_environments,
                "removed": self.removed_environments,
                "changed": {
                    name: changes(items) for name, items in self.changed_environments.items()
                },
                "reordered": self.environments_reordered,
                "kept": self.kept_environments,
            },
        }


def _count(items: list[str], noun: str) -> str:
    return f"{len(items)} {noun}" + ("" if len(items) == 1 else "s")


def _show(value: Any) -> str:
    value = _plain(value)
    if value is None or isinstance(value, bool):
        return json.dumps(value)  # null, true, false: as a manifest spells them
    return str(value)


def _same(old: Any, new: Any) -> bool:
    """Equal as a manifest means it: ``1``, ``1.0`` and ``true`` differ, and so does key order."""
    if isinstance(old, dict | list) or isinstance(new, dict | list):
        return json.dumps(old, ensure_ascii=False) == json.dumps(new, ensure_ascii=False)
    return type(old) is type(new) and old == new


def _fields(old: Any, new: Any, names: tuple[str, ...]) -> dict[str, Change]:
    return {
        name: (getattr(old, name), getattr(new, name))
        for name in names
        if not _same(getattr(old, name), getattr(new, name))
    }


def diff_manifests(
    old: Manifest | None, new: Manifest, *, keep_environments: bool = False
) -> ManifestDiff:
    """Differences from ``old`` to ``new``.

    With ``keep_environments`` (an import), deployments only in ``old`` are not reported as
    removed: an import keeps deployments that were recorded elsewhere.
    """
    diff = ManifestDiff(version=new.version)
    if old is None:
        diff.created = True
        diff.added_pins = [repo.name for repo in new.repositories]
        diff.added_environments = list(new.environments)
        return diff
    diff.release = _fields(old, new, RELEASE_FIELDS)
    # Notes and changelog URL are stored apart and always come first again: only the
    # canonical order counts.
    if (
        "metadata" in diff.release
        and old.metadata is not None
        and new.metadata is not None
        and _same(canonical_metadata(old.metadata), canonical_metadata(new.metadata))
    ):
        del diff.release["metadata"]
    old_pins: dict[str, RepositoryEntry] = {repo.name: repo for repo in old.repositories}
    new_pins = {repo.name: repo for repo in new.repositories}
    diff.added_pins = [name for name in new_pins if name not in old_pins]
    diff.removed_pins = [name for name in old_pins if name not in new_pins]
    for name, repo in new_pins.items():
        if name in old_pins:
            changes = _fields(old_pins[name], repo, PIN_FIELDS)
            if changes:
                diff.changed_pins[name] = changes
    kept_order = [name for name in old_pins if name in new_pins]
    diff.reordered = kept_order != [name for name in new_pins if name in old_pins]
    old_envs: dict[str, EnvironmentEntry] = old.environments
    diff.added_environments = [name for name in new.environments if name not in old_envs]
    only_old = [name for name in old_envs if name not in new.environments]
    if keep_environments:
        # The importer writes the file's deployments first, then the kept ones.
        diff.kept_environments = only_old
        expected = [name for name in new.environments if name in old_envs] + only_old
        diff.environments_reordered = list(old_envs) != expected
    else:
        diff.removed_environments = only_old
        common = [name for name in old_envs if name in new.environments]
        diff.environments_reordered = common != [
            name for name in new.environments if name in old_envs
        ]
    for name, entry in new.environments.items():
        if name in old_envs:
            changes = _fields(old_envs[name], entry, ENVIRONMENT_FIELDS)
            if "status" in changes:
                # A new status says it all; whether it is written follows from it.
                changes.pop("status_explicit", None)
            if changes:
                diff.changed_environments[name] = changes
    return diff
