"""Import manifests into the registry: one transaction per call, a diff as the answer.

The importer reads the stored release back as a manifest, compares it with the incoming one
(:func:`diff_manifests`) and has :class:`~releases.release_writer.ReleaseWriter` write only
the difference. This module orchestrates: one change batch and transaction per call
(:mod:`releases.changes`), the release's lock, the conflicts of concurrent imports, and the
results. The number of queries does not depend on the number of pins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, IntegrityError, OperationalError, transaction

from . import changes
from .exporting import release_to_manifest
from .manifests import (
    Finding,
    Manifest,
    ManifestDiff,
    ManifestRejected,
    check_manifest,
    diff_manifests,
)
from .manifests.report import duplicate_versions
from .models import Release
from .release_writer import ReleaseWriter


@dataclass
class ImportResult:
    """What one manifest did (or, in a dry run, would do) to the registry."""

    source: str
    version: str
    diff: ManifestDiff
    findings: list[Finding] = field(default_factory=list)
    release: Release | None = None
    dry_run: bool = False
    skipped: bool = False

    @property
    def action(self) -> str:
        if self.skipped:
            return "skipped"
        if self.diff.created:
            return "created"
        return "updated" if self.diff.changed else "unchanged"

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "version": self.version,
            "action": self.action,
            "dry_run": self.dry_run,
            "diff": self.diff.as_dict(),
            "findings": [finding.as_dict() for finding in self.findings],
        }


def import_manifest(
    manifest: Manifest,
    *,
    source: str,
    user: Any = None,
    dry_run: bool = False,
    strict: bool = False,
) -> ImportResult:
    """Create or update the release ``manifest`` describes; see :func:`import_manifests`."""
    return import_manifests([(source, manifest)], user=user, dry_run=dry_run, strict=strict)[0]


class ManifestsRejected(ManifestRejected):
    """Several manifests of one call refused; ``rejections`` holds each file's errors."""

    def __init__(self, rejections: list[ManifestRejected]) -> None:
        self.rejections = rejections
        super().__init__(rejections[0].source, [e for r in rejections for e in r.errors])
        self.args = ("\n".join(str(rejection) for rejection in rejections),)


def import_manifests(
    manifests: Sequence[tuple[str, Manifest]],
    *,
    user: Any = None,
    dry_run: bool = False,
    strict: bool = False,
    only_new: bool = False,
    progress: Callable[[ImportResult], None] | None = None,
) -> list[ImportResult]:
    """Import ``(source, manifest)`` pairs in one transaction.

    Raises :class:`ManifestsRejected` (and writes nothing at all) when two sources describe the
    same version or, with ``strict``, when manifests have error findings; every such source
    is reported. ``dry_run`` computes the same results and writes nothing. ``only_new`` leaves
    releases that are already stored untouched (their results say "skipped").

    The changes are reported to :mod:`releases.changes`, each release's with the source
    ``"import <file>"``. Two imports racing for the same release (a lock not granted, a
    deadlock, the same new release created twice) end in a ``conflict`` rejection for the one
    that lost; any other database error is raised as it is.
    """
    duplicates = duplicate_versions(manifests)
    if duplicates:
        raise ManifestsRejected(list(duplicates.values()))
    results: list[ImportResult] = []
    rejected: list[ManifestRejected] = []
    try:
        # A dry run writes nothing, so it needs no transaction (and on SQLite, where
        # transactions begin IMMEDIATE, it would wait for writers and block them).
        with changes.batch(changes.IMPORT, user=user) if not dry_run else nullcontext() as batch:
            for source, manifest in manifests:
                try:
                    with (
                        batch.attributed(f"{changes.IMPORT} {source}", user=user)
                        if batch is not None
                        else nullcontext()
                    ):
                        result = _Importer(manifest, source=source, user=user).run(
                            dry_run=dry_run, strict=strict, only_new=only_new
                        )
                except ManifestRejected as exc:
                    rejected.append(exc)
                    continue
                results.append(result)
                if progress is not None:
                    progress(result)
            if rejected:
                raise ManifestsRejected(rejected)
        if dry_run:
            _rehearse(manifests, results, user=user, strict=strict)
    except (IntegrityError, OperationalError) as exc:
        if not is_conflict(exc):
            raise
        # Another writer got there first or held on too long (two pipelines importing the
        # same release, say): everything is rolled back, and a second run sees the other's rows.
        conflict = Finding(
            "conflict",
            "error",
            "",
            "another import changed the registry at the same time; nothing was written: "
            "run it again",
        )
        # The whole call is rolled back, so every manifest of it is refused.
        raise ManifestsRejected(
            [ManifestRejected(source, [conflict]) for source, _ in manifests]
        ) from None
    return results


class _Rehearsed(Exception):
    """Raised to roll a dry run's trial write back."""


def _rehearse(
    manifests: Sequence[tuple[str, Manifest]],
    results: list[ImportResult],
    *,
    user: Any,
    strict: bool,
) -> None:
    """A dry run answers what the real write would: when a manifest brings a deployment live
    in an environment with a promotion policy, write it for real in a transaction that is
    rolled back, so that the policies see exactly what the write would leave (its new pins'
    states, an upstream environment made live by the same file) and refuse it the same way:
    :class:`~releases.promotion.enforcement.PromotionRefused`. Nothing else costs more than
    the policy lookup: no live deployment in a manifest, no query at all."""
    from .models import LIVE_STATUSES
    from .promotion.models import PromotionPolicy

    at_stake = [
        (source, manifest)
        for (source, manifest), result in zip(manifests, results, strict=True)
        if not result.skipped
        and result.diff.changed
        and any(entry.status in LIVE_STATUSES for entry in manifest.environments.values())
    ]
    names = {
        name
        for _, manifest in at_stake
        for name, entry in manifest.environments.items()
        if entry.status in LIVE_STATUSES
    }
    if not names or not PromotionPolicy.objects.filter(environment__name__in=names).exists():
        return
    try:
        # A batch of its own even inside another (the admin's confirm previews again in one):
        # the policies are checked when it ends.
        with changes.apart(), transaction.atomic():
            with changes.batch(changes.IMPORT, user=user) as batch:
                for source, manifest in at_stake:
                    with batch.attributed(f"{changes.IMPORT} {source}", user=user):
                        _Importer(manifest, source=source, user=user).run(
                            dry_run=False, strict=strict
                        )
            raise _Rehearsed
    except _Rehearsed:
        pass


def is_conflict(exc: DatabaseError) -> bool:
    """A concurrent writer's doing: a lock wait that ran out, a deadlock, or the same release
    created by two transactions at once. Anything else is a real problem."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)
    if isinstance(exc, OperationalError):
        # PostgreSQL: deadlock detected, serialization failure, lock not available.
        if sqlstate in {"40P01", "40001", "55P03"}:
            return True
        return sqlstate is None and "database is locked" in str(exc)
    if isinstance(exc, IntegrityError):
        table = Release._meta.db_table
        if sqlstate == "23505":  # unique_violation: only the release's version is unique
            return getattr(getattr(cause, "diag", None), "table_name", None) == table
        return sqlstate is None and f"UNIQUE constraint failed: {table}.version" in str(exc)
    return False


class _Importer:
    def __init__(self, manifest: Manifest, *, source: str, user: Any) -> None:
        self.manifest = manifest
        self.source = source
        self.user = user

    def run(self, *, dry_run: bool, strict: bool, only_new: bool = False) -> ImportResult:
        manifest = self.manifest
        release = self.load()
        if only_new and release is not None:
            return ImportResult(
                self.source,
                manifest.version,
                ManifestDiff(manifest.version),
                [],
                release,
                dry_run,
                skipped=True,
            )
        old = release_to_manifest(release) if release is not None else None
        diff = diff_manifests(old, manifest, keep_environments=True)
        findings = check_manifest(manifest)
        errors = [finding for finding in findings if finding.severity == "error"]
        if strict and errors:
            raise ManifestRejected(self.source, errors)
        result = ImportResult(self.source, manifest.version, diff, findings, release, dry_run)
        if dry_run or not diff.changed:
            return result
        if release is not None:
            # About to write: lock the release's row, then read it again, so that whatever
            # was written since the first read (another import, an admin edit) is what the
            # file is compared with. Imports that change nothing never lock, so they cannot
            # deadlock each other.
            self.lock(release)
            release = self.load()
            old = release_to_manifest(release) if release is not None else None
            result.diff = diff = diff_manifests(old, manifest, keep_environments=True)
            result.release = release
            if not diff.changed:
                return result
        # The moment of the history records is taken by the writer after the lock and after
        # the new repositories and environments are in: an import that waited for another is
        # dated after it, so point-in-time answers follow the commit order.
        writer = ReleaseWriter(manifest, source=self.source, user=self.user)
        result.release = writer.write(release, findings)
        return result

    def load(self) -> Release | None:
        return Release.objects.with_manifest_data().filter(version=self.manifest.version).first()

    @staticmethod
    def lock(release: Release) -> None:
        """Hold the release's row until the transaction ends (a no-op on SQLite, where
        writers are serialised by IMMEDIATE transactions)."""
        list(Release.objects.select_for_update().filter(pk=release.pk).values_list("pk"))
