"""The plain tree (from YAML or JSON) to a :class:`Manifest`, recording every located error.

The walk follows CONTRACT §1: required keys, types, value rules (from :mod:`.rules`), unknown
keys with a "did you mean", duplicate repositories and ``depends_on`` names that are not
entries of the manifest.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from typing import Any

from .located import Collector, describe, join
from .model import (
    DEPLOYMENT_STATUSES,
    EnvironmentEntry,
    Manifest,
    RepositoryEntry,
)
from .rules import (
    ENVIRONMENT_RE,
    ENVIRONMENT_RULE,
    MAX_REPOSITORY_NAME,
    MAX_TEXT,
    NAMESPACE_RE,
    NAMESPACE_RULE,
    VERSION_RE,
    VERSION_RULE,
    git_tag_problem,
    git_url_problem,
    last_segment,
    parse_timestamp,
    repository_name_problem,
)

TOP_KEYS = ("version", "created_at", "created_by", "environments", "repositories", "metadata")
ENVIRONMENT_KEYS = ("deployed_at", "namespace", "status")
REPOSITORY_KEYS = ("name", "tag", "commit_sha", "package_version", "url", "depends_on")


def tree_to_manifest(tree: Any, out: Collector, plain_paths: set[str]) -> Manifest | None:
    """The manifest the tree describes, or ``None`` with the reasons recorded in ``out``."""
    return _Schema(out, plain_paths).manifest(tree)


class _Schema:
    """Turns the plain tree into a Manifest, recording every located error it meets."""

    def __init__(self, out: Collector, plain_paths: set[str]) -> None:
        self.out = out
        self.plain_paths = plain_paths

    def type_error(self, path: str, value: Any, expected: str) -> None:
        hint = ""
        if path in self.plain_paths and expected.startswith("a string") and value is not None:
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            hint = f'; quote it ("{shown}")'
        self.out.error(path, f"must be {expected}, not {describe(value)}{hint}", "type")

    def unknown_keys(self, data: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in data:
            if key in allowed:
                continue
            close = (
                difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                or [name for name in allowed if name.startswith(key.lower()[:4])][:1]
            )
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; expected one of {', '.join(allowed)}"
            )
            self.out.error(join(path, key), f"unknown key {key!r}{hint}", "unknown-key")

    def required(self, data: dict[str, Any], key: str, path: str) -> bool:
        if key not in data:
            self.out.error(
                join(path, key) if path else key, f"the key {key!r} is required", "missing"
            )
            return False
        return True

    def text(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        *,
        nullable: bool = True,
        pattern: re.Pattern[str] | None = None,
        rule: str = "",
        max_length: int = MAX_TEXT,
    ) -> str | None:
        where = join(path, key)
        value = data.get(key)
        if value is None:
            if key in data and not nullable:
                self.type_error(where, value, "a string")
            return None
        if not isinstance(value, str):
            self.type_error(where, value, "a string")
            return None
        if len(value) > max_length:
            self.out.error(
                where,
                f"is {len(value)} characters long; at most {max_length} are allowed",
                "too-long",
            )
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.out.error(where, f"{value!r} is not valid: {rule}", "format")
            return None
        return value

    def timestamp(self, data: dict[str, Any], key: str, path: str) -> dt.datetime | None:
        where = join(path, key)
        value = self.text(data, key, path, max_length=64)
        if value is None:
            return None
        return parse_timestamp(value, where, self.out)

    def manifest(self, tree: Any) -> Manifest | None:
        if not isinstance(tree, dict):
            self.out.error("", f"the document must be a mapping, not {describe(tree)}", "type")
            return None
        self.unknown_keys(tree, TOP_KEYS, "")
        version = None
        if self.required(tree, "version", ""):
            version = self.text(
                tree,
                "version",
                "",
                nullable=False,
                pattern=VERSION_RE,
                rule=VERSION_RULE,
            )
        created_at = self.timestamp(tree, "created_at", "")
        created_by = self.text(tree, "created_by", "", max_length=200)
        environments = self.environments(tree.get("environments"))
        repositories = self.repositories(tree) if self.required(tree, "repositories", "") else None
        metadata = self.metadata(tree.get("metadata"))
        if self.out.errors or version is None or repositories is None:
            return None
        return Manifest(
            version=version,
            repositories=repositories,
            created_at=created_at,
            created_by=created_by,
            environments=environments,
            metadata=metadata,
        )

    def environments(self, value: Any) -> dict[str, EnvironmentEntry]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.type_error("environments", value, "a mapping of environment name to deployment")
            return {}
        result: dict[str, EnvironmentEntry] = {}
        for name, entry in value.items():
            path = join("environments", name)
            if not ENVIRONMENT_RE.fullmatch(name):
                self.out.error(
                    path,
                    f"{name!r} is not a valid environment name: {ENVIRONMENT_RULE}",
                    "format",
                )
                continue
            if not isinstance(entry, dict):
                self.type_error(path, entry, "a mapping")
                continue
            self.unknown_keys(entry, ENVIRONMENT_KEYS, path)
            namespace = None
            if self.required(entry, "namespace", path):
                namespace = self.text(
                    entry,
                    "namespace",
                    path,
                    nullable=False,
                    pattern=NAMESPACE_RE,
                    rule=NAMESPACE_RULE,
                    max_length=100,
                )
            deployed_at = self.timestamp(entry, "deployed_at", path)
            status = self.text(entry, "status", path, max_length=32)
            # Kept so that the writer writes back a status the file wrote, implied or not.
            status_explicit = status is not None
            if status is not None and status not in DEPLOYMENT_STATUSES:
                close = difflib.get_close_matches(status, DEPLOYMENT_STATUSES, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.out.error(
                    join(path, "status"),
                    f"unknown status {status!r}; {hint}one of {', '.join(DEPLOYMENT_STATUSES)}",
                    "choice",
                )
                continue
            if namespace is None:
                continue
            if status is None:
                status = "deployed" if deployed_at is not None else "planned"
            result[name] = EnvironmentEntry(
                namespace=namespace,
                deployed_at=deployed_at,
                status=status,
                status_explicit=status_explicit,
            )
        return result

    def repositories(self, tree: dict[str, Any]) -> tuple[RepositoryEntry, ...] | None:
        value = tree["repositories"]
        if not isinstance(value, list):
            self.type_error("repositories", value, "a list")
            return None
        if not value:
            self.out.error("repositories", "at least one repository is required", "missing")
            return None
        names: dict[str, int] = {}
        for index, entry in enumerate(value):
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                first = names.setdefault(entry["name"], index)
                if first != index:
                    self.out.error(
                        f"repositories[{index}].name",
                        f"duplicate repository {entry['name']!r} (also repositories[{first}])",
                        "duplicate",
                    )
        entries = [
            self.repository(entry, f"repositories[{i}]", names) for i, entry in enumerate(value)
        ]
        if any(entry is None for entry in entries):
            return None
        return tuple(entry for entry in entries if entry is not None)

    def repository(self, entry: Any, path: str, names: dict[str, int]) -> RepositoryEntry | None:
        if not isinstance(entry, dict):
            self.type_error(path, entry, "a mapping")
            return None
        self.unknown_keys(entry, REPOSITORY_KEYS, path)
        name = tag = None
        if self.required(entry, "name", path):
            name = self.text(entry, "name", path, nullable=False, max_length=MAX_REPOSITORY_NAME)
            problem = repository_name_problem(name) if name is not None else None
            if problem is not None:
                self.out.error(join(path, "name"), problem, "format")
                name = None
        if self.required(entry, "tag", path):
            tag = self.text(entry, "tag", path, nullable=False)
            problem = git_tag_problem(tag) if tag is not None else None
            if problem is not None:
                self.out.error(join(path, "tag"), problem, "format")
                tag = None
        commit_sha = self.text(entry, "commit_sha", path)
        package_version = self.text(entry, "package_version", path, max_length=100)
        url = self.url(entry, path)
        depends_on = self.depends_on(entry, path, name, names)
        if name is None or tag is None or depends_on is None:
            return None
        return RepositoryEntry(
            name=name,
            tag=tag,
            commit_sha=commit_sha,
            package_version=package_version,
            url=url,
            depends_on=depends_on,
        )

    def url(self, entry: dict[str, Any], path: str) -> str | None:
        where = join(path, "url")
        value = self.text(entry, "url", path, max_length=500)
        if value is None:
            return None
        problem = git_url_problem(value)
        if problem is not None:
            self.out.error(where, problem[1], problem[0])
            return None
        return value

    def depends_on(
        self, entry: dict[str, Any], path: str, name: str | None, names: dict[str, int]
    ) -> tuple[str, ...] | None:
        where = join(path, "depends_on")
        value = entry.get("depends_on")
        if value is None:
            return ()
        if not isinstance(value, list):
            self.type_error(where, value, "a list of repository names")
            return None
        result: list[str] = []
        ok = True
        for i, item in enumerate(value):
            item_path = join(where, i)
            if not isinstance(item, str):
                self.type_error(item_path, item, "a string")
                ok = False
            elif item not in names:
                close = _closest_name(item, names)
                hint = f"; did you mean {close!r}?" if close else ""
                self.out.error(
                    item_path,
                    f"{item!r} is not a repository of this manifest{hint}",
                    "unknown-reference",
                )
                ok = False
            elif item in result:
                self.out.error(item_path, f"{item!r} is listed twice", "duplicate")
                ok = False
            else:
                result.append(item)
        return tuple(result) if ok else None

    def metadata(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.type_error("metadata", value, "a mapping")
            return None
        # Free-form and kept verbatim: these two are only held to being text (or null) because
        # the admin shows and edits them as text.
        for key in ("notes", "changelog_url"):
            if value.get(key) is not None and not isinstance(value[key], str):
                self.type_error(join("metadata", key), value[key], "a string or null")
        # Stored in a column of its own, as long as a pin's url.
        changelog_url = value.get("changelog_url")
        if isinstance(changelog_url, str) and len(changelog_url) > 500:
            self.out.error(
                "metadata.changelog_url",
                f"is {len(changelog_url)} characters long; at most 500 are allowed",
                "too-long",
            )
        return value


def _closest_name(name: str, names: dict[str, int]) -> str | None:
    """The entry a mistyped ``depends_on`` name most likely means: a close spelling, or the
    entry that the name is the last segment of (``nova`` for ``openstack/nova``), or the
    reverse (``openstack/nova`` for ``nova``)."""
    close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
    if close:
        return close[0]
    tail = last_segment(name)
    same_tail = [entry for entry in names if last_segment(entry) == tail]
    if len(same_tail) == 1:
        return same_tail[0]
    close = difflib.get_close_matches(tail, [last_segment(entry) for entry in names], n=1)
    if close:
        matches = [entry for entry in names if last_segment(entry) == close[0]]
        if len(matches) == 1:
            return matches[0]
    return None
