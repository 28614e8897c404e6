"""What a release brings: per pin, the commits between the pin that runs somewhere now (or in
another release) and this release's pin.

Read from the validator's cached partial clones (:class:`registry.git.clones.CloneCache`: one
blobless clone per repository URL, fetched only when a commit is not in it yet, every git call
through the hardened runner). Each pin lists at most ``REGISTRY_CHANGES_MAX_COMMITS`` commits
and counts the rest; a pin moved backwards, histories with nothing in common, commits the
repository does not have and repositories that cannot be reached are each said as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from registry.git.clones import CloneCache, Commit, CommitRange, clone_cache_from_settings
from registry.git.errors import CommitNotFound, GitRemoteError
from registry.git.urls import pin_url
from registry.models import Environment

from .deployments_matrix import version_order
from .models import Release, RepositoryPin

DEFAULT_MAX_COMMITS = 50


class UnknownSince(LookupError):
    """``since`` names neither a stored release nor an environment."""

    def __init__(self, since: str) -> None:
        self.since = since
        super().__init__(f"{since!r} is neither a release version nor an environment")


@dataclass(frozen=True)
class Since:
    """What the release is compared with: a release, or the newest release live in an
    environment now (``version`` is ``None`` when nothing other than it runs there)."""

    kind: str  # "release" | "environment"
    name: str
    version: str | None


@dataclass(frozen=True)
class PinSide:
    tag: str
    commit_sha: str | None


@dataclass
class PinChanges:
    """One repository: where it was, where it goes, and the commits in between.

    ``status``: ``added`` / ``removed`` (in one release only), ``same`` (same commit),
    ``forward``, ``backwards`` (the new commit is an ancestor of the old one; the commits
    listed are the ones taken away), ``diverged`` (neither descends from the other; the
    commits listed are the new side's, ``left_behind`` counts the old side's),
    ``unrelated`` (no common history), ``no-commit`` (a side pins no commit), ``missing``
    (a commit is not in the repository), ``unreachable`` (the repository could not be read,
    or the registry may not contact it).
    """

    repository: str
    status: str
    old: PinSide | None
    new: PinSide | None
    commits: list[Commit] = field(default_factory=list)
    total: int = 0
    left_behind: int = 0
    message: str = ""

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.commits))


@dataclass
class WhatChanged:
    version: str
    since: Since
    limit: int
    pins: list[PinChanges]


def max_commits() -> int:
    return int(getattr(settings, "REGISTRY_CHANGES_MAX_COMMITS", DEFAULT_MAX_COMMITS))


def resolve_since(since: str, *, exclude: str | None = None) -> Since:
    """``since`` as a release version (first) or an environment: then the newest release live
    there now, leaving out ``exclude`` (the release being described). Raises
    :class:`UnknownSince`."""
    if Release.objects.filter(version=since).exists():
        return Since("release", since, since)
    if not Environment.objects.filter(name=since).exists():
        raise UnknownSince(since)
    return live_in(since, exclude=exclude)


def live_in(environment: str, *, exclude: str | None = None) -> Since:
    """The newest release live in ``environment`` now, other than ``exclude``."""
    from .api.representations import live_in_environments

    found = live_in_environments([environment], None, timezone.now())
    releases = [r for r in (found[0]["releases"] if found else []) if r["version"] != exclude]
    if not releases:
        return Since("environment", environment, None)
    newest = max(
        releases,
        key=lambda r: (
            r["deployed_at"] is None,
            r["deployed_at"] or "",
            version_order(r["version"]),
        ),
    )
    return Since("environment", environment, newest["version"])


_PIN_COLUMNS = (
    "release__version",
    "repository__name",
    "tag",
    "commit_sha",
    "url",
    "repository__git_url",
)


def _pins(versions: Sequence[str]) -> dict[str, dict[str, tuple[str, str | None, str | None]]]:
    """version -> repository -> (tag, commit SHA, git URL), in manifest order; one query."""
    template = getattr(settings, "REGISTRY_GIT_URL_TEMPLATE", None)
    found: dict[str, dict[str, tuple[str, str | None, str | None]]] = {v: {} for v in versions}
    rows = (
        RepositoryPin.objects.filter(release__version__in=list(versions))
        .order_by("release_id", "position", "pk")
        .values_list(*_PIN_COLUMNS)
    )
    for version, name, tag, sha, url, git_url in rows:
        found[version][name] = (
            tag,
            sha,
            pin_url(name, url=url or None, git_url=git_url or None, template=template),
        )
    return found


def what_changed(
    version: str,
    since: str,
    *,
    clones: CloneCache | None = None,
    limit: int | None = None,
) -> WhatChanged:
    """Per pin of release ``version``, the commits since ``since`` (a release version or an
    environment, see :func:`resolve_since`). Raises :class:`Release.DoesNotExist` for an
    unknown ``version`` and :class:`UnknownSince`. Two to four queries, then one git
    question per changed pin (pins of one repository share its clone)."""
    if not Release.objects.filter(version=version).exists():
        raise Release.DoesNotExist(f"No release {version}.")
    resolved = resolve_since(since, exclude=version)
    return changes_between(resolved, version, clones=clones, limit=limit)


def changes_between(
    since: Since,
    version: str,
    *,
    clones: CloneCache | None = None,
    limit: int | None = None,
) -> WhatChanged:
    limit = max_commits() if limit is None else limit
    versions = [version] + ([since.version] if since.version not in (None, version) else [])
    pins = _pins(versions)
    new = pins[version]
    old = pins[since.version] if since.version is not None else {}
    rows: list[PinChanges] = []
    questions: list[tuple[PinChanges, str, str, str]] = []
    for name in list(new) + [name for name in old if name not in new]:
        before, after = old.get(name), new.get(name)
        row = PinChanges(
            name,
            "",
            PinSide(before[0], before[1]) if before else None,
            PinSide(after[0], after[1]) if after else None,
        )
        rows.append(row)
        if before is None or after is None:
            row.status = "added" if before is None else "removed"
        elif not before[1] or not after[1]:
            row.status = "no-commit"
            row.message = "no commit SHA pinned: the commits between cannot be listed"
        elif before[1].lower() == after[1].lower():
            row.status = "same"
        elif after[2] is None:
            row.status = "unreachable"
            row.message = (
                "no git URL: set the pin's url, the repository's git URL or "
                "REGISTRY_GIT_URL_TEMPLATE"
            )
        else:
            questions.append((row, after[2], before[1], after[1]))
    if questions:
        _ask(questions, clones or clone_cache_from_settings(), limit)
    return WhatChanged(version, since, limit, rows)


def _ask(questions: list[tuple[PinChanges, str, str, str]], clones: CloneCache, limit: int) -> None:
    def one(question: tuple[PinChanges, str, str, str]) -> CommitRange | GitRemoteError:
        _, url, old, new = question
        try:
            return clones.commits_between(url, old, new, limit=limit)
        except GitRemoteError as error:
            return error

    concurrency = int(getattr(settings, "REGISTRY_VALIDATION_CONCURRENCY", 8))
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(questions)))) as pool:
        answers = list(pool.map(one, questions))
    for (row, _, _, _), answer in zip(questions, answers, strict=True):
        if isinstance(answer, GitRemoteError):
            row.status = "missing" if isinstance(answer, CommitNotFound) else "unreachable"
            row.message = str(answer)
            continue
        row.status = answer.direction
        row.commits = answer.commits
        row.total = answer.total
        row.left_behind = answer.left_behind
        row.message = _message(answer)


def _message(answer: CommitRange) -> str:
    old, new = answer.old[:12], answer.new[:12]
    if answer.direction == "backwards":
        return (
            f"moved backwards: {new} is an ancestor of {old}; {answer.total} commit(s) taken away"
        )
    if answer.direction == "unrelated":
        return f"{old} and {new} have no common history"
    if answer.direction == "diverged":
        return (
            f"{new} does not descend from {old}: {answer.total} new commit(s), "
            f"{answer.left_behind} of the old pin's left behind"
        )
    if answer.direction == "forward":
        return f"{answer.total} new commit(s)"
    return ""


# --- as the API and the evidence package show it ------------------------------------------


def what_changed_data(changes: WhatChanged) -> dict[str, Any]:
    """Plain data, in a stable order (the evidence package hashes it)."""
    return {
        "version": changes.version,
        "since": {
            "kind": changes.since.kind,
            "name": changes.since.name,
            "release": changes.since.version,
        },
        "limit": changes.limit,
        "pins": [
            {
                "repository": row.repository,
                "status": row.status,
                "old": _side(row.old),
                "new": _side(row.new),
                "commits": [
                    {
                        "sha": commit.sha,
                        "subject": commit.subject,
                        "author": commit.author,
                        "date": commit.date,
                    }
                    for commit in row.commits
                ],
                "total": row.total,
                "more": row.more,
                "left_behind": row.left_behind,
                "message": row.message,
            }
            for row in changes.pins
        ],
    }


def _side(side: PinSide | None) -> dict[str, Any] | None:
    return None if side is None else {"tag": side.tag, "commit_sha": side.commit_sha}


def evidence_changes(version: str, *, clones: CloneCache | None = None) -> list[dict[str, Any]]:
    """The evidence package's section: for each environment the release has a deployment in
    (any status, in the manifest's order), what changed since the newest other release live
    there now. No time of its own: the same registry and repositories give the same data."""
    environments = (
        Environment.objects.filter(deployments__release__version=version)
        .order_by("deployments__position", "deployments__pk")
        .values_list("name", flat=True)
    )
    sections = []
    for name in environments:
        since = live_in(name, exclude=version)
        data = what_changed_data(
            changes_between(since, version, clones=clones)
            if since.version is not None
            else WhatChanged(version, since, max_commits(), [])
        )
        sections.append({"environment": name, **data})
    return sections
