"""Mirror the IaC repository's ``manifests/`` folder into the registry.

One sync: fetch the cached clone (:mod:`releases.gitops.repository`), list the folder on every
watched branch (trees only), decide which file of which branch is each version's, and import
only the versions whose chosen blob differs from the one recorded in
:class:`~releases.gitops.models.ManifestSource`. Those blobs are read with one
``git cat-file --batch``; each file is then imported in a transaction of its own through
:func:`releases.importing.import_manifests` inside a ``changes.GIT`` batch, so history, pin
state, the revision and ``release_changed`` (the Notion mirror) follow as for any import.

Which file is a version's:

- a file is ``<folder>/v<version>.yaml`` (``.yml``, ``.json``), as ``export_manifest
  --output-dir`` writes it, and must hold that version;
- version ``X.Y[.Z...]`` belongs to the branch ``release/X.Y``: when that branch is watched and
  has the file, its file wins over every other branch's (a backport);
- a copy another branch carries unchanged since it forked from the trunk (the first watched
  branch named without a wildcard, ``main``) does not count: ``release/1.4`` carries
  ``v1.3.yaml`` as ``main`` had it then, and a file deleted on ``main`` is gone even though
  older branches still hold it;
- the remaining copies must agree: two that differ are a conflict, reported with both
  commits, and nothing is imported for that version.

One bad file never blocks another: a rejection is reported with its path, branch, commit and
located errors. A file that left the repository is reported; its release stays.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from registry.git.errors import GitRemoteError

from .. import changes
from ..importing import ManifestsRejected, import_manifests
from ..manifests import Finding, ManifestRejected, parse_manifest
from ..manifests.rules import VERSION_RE
from ..models import Release
from ..promotion.enforcement import PromotionRefused
from .models import ManifestSource, ManifestSync
from .repository import MANIFEST_SUFFIXES, ManifestsRepository, TreeEntry, matching_branches

logger = logging.getLogger(__name__)

_FILE_NAME_RE = re.compile(r"v(?P<version>.+)\.(?:yaml|yml|json)")
_MINOR_RE = re.compile(r"(?P<minor>\d+\.\d+)(?:\.|\Z)")
SHORT_SHA = 12


def owning_branch(version: str) -> str | None:
    """The backport branch a version belongs to: ``1.4`` and ``1.4.2`` -> ``release/1.4``."""
    match = _MINOR_RE.match(version)
    return f"release/{match['minor']}" if match else None


@dataclass(frozen=True)
class Candidate:
    """A manifest file on one branch."""

    version: str
    branch: str
    commit: str
    path: str
    blob: str
    size: int | None = None

    @property
    def where(self) -> str:
        """``main@<short sha>:manifests/v1.4.yaml``: what history and messages name."""
        return f"{self.branch}@{self.commit[:SHORT_SHA]}:{self.path}"

    @property
    def source(self) -> str:
        return f"{changes.GIT} {self.where}"

    def as_dict(self) -> dict[str, str]:
        # The size is how the file was chosen, not what the report says of it.
        return {key: value for key, value in asdict(self).items() if key != "size"}


@dataclass
class Imported:
    """What a read file did (or, in a dry run, would do)."""

    file: Candidate
    action: str  # created | updated | unchanged
    summary: str
    findings: int

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.file.as_dict(),
            "action": self.action,
            "summary": self.summary,
            "findings": self.findings,
        }


@dataclass
class Rejection:
    """A file refused: where it is, and every located error."""

    branch: str
    commit: str
    path: str
    errors: list[Finding]
    version: str | None = None
    #: Reported again from the last sync's record, without reading the unchanged file.
    remembered: bool = False

    @classmethod
    def remembered_from(cls, version: str, data: dict[str, Any]) -> Rejection:
        return cls(
            data["branch"],
            data["commit"],
            data["path"],
            [Finding.from_dict(error) for error in data["errors"]],
            version=version,
            remembered=True,
        )

    def lines(self) -> list[str]:
        where = f"{self.branch}@{self.commit[:SHORT_SHA]}:{self.path}"
        return [error.format(where) for error in self.errors]

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "branch": self.branch,
            "commit": self.commit,
            "path": self.path,
            "errors": [error.as_dict() for error in self.errors],
            "remembered": self.remembered,
        }


@dataclass
class Conflict:
    """Two or more different files for one version where none takes precedence."""

    version: str
    files: list[Candidate]

    def line(self) -> str:
        sides = " vs ".join(f"{c.branch}@{c.commit}:{c.path}" for c in self.files)
        return f"{self.version}: conflict, nothing imported: {sides}"

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "files": [c.as_dict() for c in self.files]}


@dataclass
class Removed:
    """A version whose file is on no watched branch any more; its release is kept."""

    version: str
    branch: str
    commit: str
    path: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Edited:
    """A release changed in the registry (admin, API) since the sync imported its file, which
    has not changed since: kept as it is, imported again when the file changes."""

    version: str
    branch: str
    commit: str
    path: str

    def line(self) -> str:
        return (
            f"{self.branch}@{self.commit[:SHORT_SHA]}:{self.path}: {self.version} was changed "
            "in the registry since this file was synced (kept; imported again when the file "
            "changes)"
        )

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class SyncReport:
    """Everything one sync saw and did."""

    repository: str
    dry_run: bool = False
    branches: dict[str, str] = field(default_factory=dict)
    imported: list[Imported] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    removed: list[Removed] = field(default_factory=list)
    edited: list[Edited] = field(default_factory=list)
    #: Versions whose chosen file is the one already imported (not read).
    unchanged_files: int = 0
    #: Blobs read from the clone (0 when nothing changed).
    blobs_read: int = 0

    @property
    def ok(self) -> bool:
        return not self.rejections and not self.conflicts

    def counts(self) -> dict[str, int]:
        actions = [item.action for item in self.imported]
        return {
            "created": actions.count("created"),
            "updated": actions.count("updated"),
            "unchanged": actions.count("unchanged") + self.unchanged_files,
            "rejected": len(self.rejections),
            "conflicts": len(self.conflicts),
            "removed": len(self.removed),
            "edited_in_registry": len(self.edited),
            "read": self.blobs_read,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "dry_run": self.dry_run,
            "branches": self.branches,
            "counts": self.counts(),
            "imported": [item.as_dict() for item in self.imported],
            "rejections": [item.as_dict() for item in self.rejections],
            "conflicts": [item.as_dict() for item in self.conflicts],
            "removed": [item.as_dict() for item in self.removed],
            "edited_in_registry": [item.as_dict() for item in self.edited],
        }

    def summary(self) -> str:
        counts = self.counts()
        verb = "would sync" if self.dry_run else "synced"
        return (
            f"{verb} {len(self.branches)} branch(es) of {self.repository}: "
            f"{counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged, {counts['rejected']} rejected, "
            f"{counts['conflicts']} conflict(s), {counts['removed']} removed from the repository"
            f" (kept in the registry); {counts['read']} file(s) read"
            + ("; nothing written (dry run)" if self.dry_run else "")
        )


def sync_manifests(
    repository: ManifestsRepository,
    *,
    branches: Sequence[str] | None = None,
    folder: str | None = None,
    dry_run: bool = False,
    actor: str = "git sync",
    max_bytes: int | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> SyncReport:
    """Fetch ``repository`` and import the manifests that changed since the last sync.

    ``branches`` are fnmatch patterns (default ``REGISTRY_MANIFESTS_REPO_BRANCHES``), ``folder``
    the manifests folder (default ``REGISTRY_MANIFESTS_REPO_FOLDER``); ``progress(file, total)``
    is called before each file read is imported. A ``dry_run`` reads and
    compares the same files and writes nothing (the clone is still fetched). Raises
    :class:`~registry.git.errors.GitRemoteError` when the repository cannot be fetched.
    """
    patterns = list(branches or settings.REGISTRY_MANIFESTS_REPO_BRANCHES)
    folder = str(folder or settings.REGISTRY_MANIFESTS_REPO_FOLDER).strip("/")
    max_bytes = max_bytes or settings.REGISTRY_MANIFEST_MAX_BYTES
    report = SyncReport(repository.remote.url, dry_run=dry_run)
    with repository.locked():
        heads = repository.fetch()
        watched = matching_branches(heads, patterns)
        report.branches = {branch: heads[branch] for branch in watched}
        trunk = _trunk(patterns, heads)
        chooser = _Chooser(repository, folder, report.branches, trunk)
        chosen = chooser.choose(report)
        sources = {
            source.version: source
            for source in ManifestSource.objects.annotate(current_revision=F("release__revision"))
        }
        to_read: list[Candidate] = []
        for version, file in sorted(chosen.items()):
            stored = sources.get(version)
            if (
                stored is not None
                and stored.release_id is not None
                and stored.blob_sha == file.blob
            ):
                report.unchanged_files += 1
                current = getattr(stored, "current_revision", None)
                if stored.revision is not None and current != stored.revision:
                    report.edited.append(Edited(version, stored.branch, stored.commit, stored.path))
                if not dry_run and (stored.branch, stored.path) != (file.branch, file.path):
                    # The same content now comes from its backport branch, say.
                    ManifestSource.objects.filter(pk=stored.pk).update(
                        branch=file.branch, path=file.path, commit=file.commit
                    )
                continue
            if stored is not None and stored.rejected_blob_sha == file.blob and stored.rejection:
                report.rejections.append(Rejection.remembered_from(version, stored.rejection))
                continue
            if file.size is not None and file.size > max_bytes:
                # Refused from the tree listing: an oversized blob is never read.
                message = f"{file.size} bytes is over the limit of {max_bytes}"
                _reject(file, [Finding("too-large", "error", "", message)], report, dry_run)
                continue
            to_read.append(file)
        contents = repository.blobs([file.blob for file in to_read])
        report.blobs_read = len(contents)
        # Still under the lock: two syncs of one repository take turns, file by file.
        for file in to_read:
            if progress is not None:
                progress(file.where, len(to_read))
            _import_file(
                file, contents[file.blob], report, dry_run=dry_run, actor=actor, max_bytes=max_bytes
            )
    seen = set(chosen) | {c.version for c in report.conflicts}
    seen |= {r.version for r in report.rejections if r.version}
    for version, stored in sorted(sources.items()):
        if version in seen:
            continue
        if stored.blob_sha:
            report.removed.append(Removed(version, stored.branch, stored.commit, stored.path))
        elif not dry_run:
            # Only ever refused, and now gone: nothing to remember.
            stored.delete()
    return report


def _trunk(patterns: Sequence[str], heads: dict[str, str]) -> str | None:
    for pattern in patterns:
        name = pattern.strip()
        if name and not any(ch in name for ch in "*?[") and name in heads:
            return name
    return None


class _Chooser:
    """Which file of which branch is each version's (trees only, no content)."""

    def __init__(
        self,
        repository: ManifestsRepository,
        folder: str,
        branches: dict[str, str],
        trunk: str | None,
    ) -> None:
        self.repository = repository
        self.folder = folder
        self.branches = branches
        self.trunk = trunk
        self._bases: dict[str, dict[str, str]] = {}

    def choose(self, report: SyncReport) -> dict[str, Candidate]:
        by_version: dict[str, list[Candidate]] = {}
        for branch, commit in self.branches.items():
            per_branch: dict[str, list[Candidate]] = {}
            for entry in self.repository.folder(commit, self.folder):
                file = self._candidate(branch, commit, entry, report)
                if file is not None:
                    per_branch.setdefault(file.version, []).append(file)
            for version, files in per_branch.items():
                if len(files) > 1:
                    # v1.4.yaml and v1.4.json side by side: neither is the one.
                    report.conflicts.append(Conflict(version, files))
                else:
                    by_version.setdefault(version, []).append(files[0])
        blocked = {conflict.version for conflict in report.conflicts}
        chosen: dict[str, Candidate] = {}
        for version, files in by_version.items():
            if version in blocked:
                continue
            file = self._one(version, files, report)
            if file is not None:
                chosen[version] = file
        return chosen

    def _candidate(
        self, branch: str, commit: str, entry: TreeEntry, report: SyncReport
    ) -> Candidate | None:
        name = entry.name
        if name.startswith(".") or not name.lower().endswith(MANIFEST_SUFFIXES):
            return None  # a README, a hidden file, a subfolder: not a manifest
        match = _FILE_NAME_RE.fullmatch(name)
        problem = None
        if not entry.is_file:
            problem = "is not a regular file (a symbolic link or a submodule)"
        elif match is None or not VERSION_RE.match(match["version"]):
            problem = (
                "is not named v<version>.yaml (or .yml, .json), as export_manifest "
                "--output-dir writes manifests"
            )
        if problem is not None:
            report.rejections.append(
                Rejection(branch, commit, entry.path, [Finding("file-name", "error", "", problem)])
            )
            return None
        if match is None:  # for the type checker: a problem was reported above
            return None
        return Candidate(match["version"], branch, commit, entry.path, entry.blob, entry.size)

    def _one(self, version: str, files: list[Candidate], report: SyncReport) -> Candidate | None:
        owner = owning_branch(version)
        for file in files:
            if file.branch == owner:
                return file
        # A copy another branch carries unchanged since it forked from the trunk is the
        # trunk's file as it was then, not a manifest of that branch.
        files = [file for file in files if file.branch == self.trunk or not self._inherited(file)]
        files.sort(key=lambda c: (c.branch != self.trunk, c.branch))
        if not files:
            return None
        if len({file.blob for file in files}) == 1:
            return files[0]
        report.conflicts.append(Conflict(version, files))
        return None

    def _inherited(self, file: Candidate) -> bool:
        if self.trunk is None:
            return False
        base = self._bases.get(file.branch)
        if base is None:
            commit = self.repository.merge_base(self.branches[self.trunk], file.commit)
            entries = self.repository.folder(commit, self.folder) if commit else []
            base = self._bases[file.branch] = {entry.path: entry.blob for entry in entries}
        return base.get(file.path) == file.blob


def _import_file(
    file: Candidate,
    content: bytes,
    report: SyncReport,
    *,
    dry_run: bool,
    actor: str,
    max_bytes: int,
) -> None:
    """Parse and import one file in its own transaction; a refusal is reported, never
    raised."""
    errors: list[Finding]
    try:
        manifest = parse_manifest(content, source=file.path, max_bytes=max_bytes)
        if manifest.version != file.version:
            raise ManifestRejected(
                file.path,
                [
                    Finding(
                        "version-mismatch",
                        "error",
                        "version",
                        f"the file is named for version {file.version!r} but holds "
                        f"{manifest.version!r}",
                    )
                ],
            )
        if dry_run:
            result = import_manifests([(file.source, manifest)], dry_run=True)[0]
        else:
            with changes.batch(changes.GIT, actor=actor):
                result = import_manifests([(file.source, manifest)])[0]
                _record(file, report.repository, result.release)
            # The revision as the batch left it: a later change elsewhere shows as drift.
            ManifestSource.objects.filter(version=file.version).update(
                revision=Subquery(
                    Release.objects.filter(pk=OuterRef("release_id")).values("revision")[:1]
                )
            )
        report.imported.append(
            Imported(file, result.action, result.diff.summary(), len(result.findings))
        )
        return
    except ManifestsRejected as exc:
        errors = [error for rejection in exc.rejections for error in rejection.errors]
        if _depends_on_more_than_content(exc):
            # A promotion policy's refusal (soak time, approvals, a freeze) or a race with
            # another writer: the same file may pass on the next sync, so it is read again.
            report.rejections.append(
                Rejection(file.branch, file.commit, file.path, errors, file.version)
            )
            if not dry_run:
                _forget_rejection(file.version)
            return
    except ManifestRejected as exc:
        errors = list(exc.errors)
    _reject(file, errors, report, dry_run)


def _depends_on_more_than_content(exc: ManifestsRejected) -> bool:
    if isinstance(exc, PromotionRefused):
        return True
    return any(
        error.code == "conflict" for rejection in exc.rejections for error in rejection.errors
    )


def _reject(file: Candidate, errors: list[Finding], report: SyncReport, dry_run: bool) -> None:
    """A refusal of the file's content: remembered by blob, reported without reading the
    file again until it changes."""
    rejection = Rejection(file.branch, file.commit, file.path, errors, file.version)
    report.rejections.append(rejection)
    if not dry_run:
        # Remember the refused content, so that the next sync reports it without reading it;
        # the last imported content (``blob_sha``) and its release stay as they are.
        ManifestSource.objects.update_or_create(
            version=file.version,
            defaults={"rejected_blob_sha": file.blob, "rejection": rejection.as_dict()},
        )


def _forget_rejection(version: str) -> None:
    """A content rejection remembered for this version is not the file's any more."""
    ManifestSource.objects.filter(version=version).exclude(rejected_blob_sha="").update(
        rejected_blob_sha="", rejection={}
    )


def _record(file: Candidate, repository: str, release: Any) -> None:
    ManifestSource.objects.update_or_create(
        version=file.version,
        defaults={
            "release": release,
            "repository_url": repository,
            "branch": file.branch,
            "commit": file.commit,
            "path": file.path,
            "blob_sha": file.blob,
            "rejected_blob_sha": "",
            "rejection": {},
        },
    )


# --- runs: queued by the webhook, started by the schedule or the command --------------------


def queue_sync(trigger: str) -> tuple[ManifestSync, bool]:
    """Queue a sync unless one is already waiting (pushes in a burst make one sync).

    Returns the waiting run and whether it is new; a new one is sent to the worker when the
    current transaction commits.
    """
    from .tasks import run_manifest_sync

    for _attempt in range(3):
        waiting = ManifestSync.objects.filter(state=ManifestSync.State.QUEUED).first()
        if waiting is not None:
            return waiting, False
        try:
            with transaction.atomic():
                run = ManifestSync.objects.create(
                    trigger=trigger, repository_url=settings.REGISTRY_MANIFESTS_REPO_URL or ""
                )
        except IntegrityError:
            continue  # another request queued one in between: that one is it
        transaction.on_commit(partial(run_manifest_sync.delay, run.pk))
        return run, True
    raise RuntimeError("could not queue a manifests sync")


def run_sync(
    run_id: int | None = None,
    *,
    trigger: str = "schedule",
    repository: ManifestsRepository | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> tuple[ManifestSync | None, SyncReport | None]:
    """Run the queued sync ``run_id`` (or a new one, for the schedule and the command) and
    store its report on the run row. A run already taken by another worker is left alone
    (``(None, None)``): a task delivered twice syncs once. A repository that cannot be
    fetched ends the run as ``failed`` with the (safe) reason."""
    from .repository import repository_from_settings

    now = timezone.now()
    if run_id is None:
        run = ManifestSync.objects.create(
            trigger=trigger,
            state=ManifestSync.State.RUNNING,
            started_at=now,
            repository_url=settings.REGISTRY_MANIFESTS_REPO_URL or "",
        )
    else:
        taken = ManifestSync.objects.filter(pk=run_id, state=ManifestSync.State.QUEUED).update(
            state=ManifestSync.State.RUNNING, started_at=now
        )
        if not taken:
            return None, None
        run = ManifestSync.objects.get(pk=run_id)
    report = None
    try:
        repository = repository or repository_from_settings()
        run.repository_url = repository.remote.url
        report = sync_manifests(repository, actor=f"git sync #{run.pk}", progress=progress)
    except (GitRemoteError, ValueError) as exc:
        run.state = ManifestSync.State.FAILED
        run.error = str(exc)
        logger.warning("manifests sync #%s failed: %s", run.pk, exc)
    except BaseException as exc:
        run.state = ManifestSync.State.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.finished_at = timezone.now()
        run.save()
        raise
    else:
        run.state = ManifestSync.State.DONE
        run.branches = report.branches
        run.counts = report.counts()
        run.report = report.as_dict()
    run.finished_at = timezone.now()
    run.save()
    return run, report
