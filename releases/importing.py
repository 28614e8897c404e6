"""Import manifests into the registry: one transaction per call, a diff as the answer.

The importer reads the stored release back as a manifest, compares it with the incoming one
(:func:`diff_manifests`) and writes only the difference, in bulk, with a history record for
every row it creates, changes or deletes. The number of queries does not depend on the number
of pins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Max, Model
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from registry.models import Environment, Repository

from .exporting import release_to_manifest
from .manifests import (
    OFFLINE_CODES,
    Finding,
    Manifest,
    ManifestDiff,
    ManifestRejected,
    check_manifest,
    diff_manifests,
    read_manifest_file,
)
from .manifests.files import display_path
from .models import EnvironmentDeployment, PinDependency, Release, RepositoryPin

_PIN_PATH = re.compile(r"^repositories\[(\d+)\]")


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


def duplicate_versions(manifests: Sequence[tuple[str, Manifest]]) -> dict[int, ManifestRejected]:
    """A rejection for every source whose version an earlier source already describes, by its
    position in ``manifests``."""
    seen: dict[str, str] = {}
    rejected = {}
    for index, (source, manifest) in enumerate(manifests):
        if manifest.version in seen:
            message = f"version {manifest.version!r} is also in {seen[manifest.version]}"
            rejected[index] = ManifestRejected(
                source, [Finding("duplicate", "error", "version", message)]
            )
        else:
            seen[manifest.version] = source
    return rejected


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
    """
    duplicates = duplicate_versions(manifests)
    if duplicates:
        raise ManifestsRejected(list(duplicates.values()))
    results: list[ImportResult] = []
    rejected: list[ManifestRejected] = []
    try:
        # A dry run writes nothing, so it needs no transaction (and on SQLite, where
        # transactions begin IMMEDIATE, it would wait for writers and block them).
        with transaction.atomic() if not dry_run else nullcontext():
            for source, manifest in manifests:
                try:
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
    except (IntegrityError, OperationalError) as exc:
        if isinstance(exc, OperationalError) and not _is_contention(exc):
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


def _is_contention(exc: OperationalError) -> bool:
    """A lock wait that ran out or a deadlock, as opposed to a real database problem."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    # PostgreSQL: deadlock detected, serialization failure, lock not available.
    if sqlstate in {"40P01", "40001", "55P03"}:
        return True
    return sqlstate is None and "database is locked" in str(exc)


def read_manifests(
    files: Iterable[Path], *, progress: Callable[[Path], None] | None = None
) -> list[tuple[str, Manifest | ManifestRejected]]:
    """Parse every file, in order: each one's printable name and its manifest or rejection,
    so that all can be reported."""
    outcomes: list[tuple[str, Manifest | ManifestRejected]] = []
    for path in files:
        if progress is not None:
            progress(path)
        source = display_path(path)
        try:
            manifest = read_manifest_file(path, max_bytes=settings.REGISTRY_MANIFEST_MAX_BYTES)
        except ManifestRejected as exc:
            outcomes.append((source, ManifestRejected(source, exc.errors)))
        else:
            outcomes.append((source, manifest))
    return outcomes


def metadata_extra_text(metadata: dict[str, Any] | None) -> str | None:
    """What ``Release.metadata_extra`` stores for a manifest's metadata mapping."""
    if metadata is None:
        return None
    rest = {key: value for key, value in metadata.items() if key not in ("notes", "changelog_url")}
    return json.dumps(rest, ensure_ascii=False)


def _pin_state(findings: list[dict[str, Any]], *, checked_online: bool) -> str:
    if any(finding["severity"] == "error" for finding in findings):
        return RepositoryPin.ValidationState.INVALID
    if findings:
        return RepositoryPin.ValidationState.WARNING
    if checked_online:
        return RepositoryPin.ValidationState.VALID
    return RepositoryPin.ValidationState.UNCHECKED


class _Importer:
    def __init__(self, manifest: Manifest, *, source: str, user: Any) -> None:
        self.manifest = manifest
        self.source = source
        self.user = user if getattr(user, "pk", None) else None
        self.reason = f"imported from {source}"
        self.now = timezone.now()

    def history(self) -> dict[str, Any]:
        return {
            "default_user": self.user,
            "default_change_reason": self.reason,
            "default_date": self.now,
        }

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
        result.release = self.write(release, findings)
        return result

    def load(self) -> Release | None:
        return Release.objects.with_manifest_data().filter(version=self.manifest.version).first()

    @staticmethod
    def lock(release: Release) -> None:
        """Hold the release's row until the transaction ends (a no-op on SQLite, where
        writers are serialised by IMMEDIATE transactions)."""
        list(Release.objects.select_for_update().filter(pk=release.pk).values_list("pk"))

    # --- writing -------------------------------------------------------------------------

    def write(self, release: Release | None, findings: list[Finding]) -> Release:
        manifest = self.manifest
        pin_findings: dict[int, list[Finding]] = {}
        release_findings = []
        for finding in findings:
            match = _PIN_PATH.match(finding.path)
            if match:
                pin_findings.setdefault(int(match.group(1)), []).append(finding)
            else:
                release_findings.append(finding)

        repositories = self.repositories()
        environments = self.environments()

        stored_pins = list(release.pins.all()) if release is not None else []
        stored_deployments = list(release.deployments.all()) if release is not None else []
        if release is None:
            release = Release(version=manifest.version)
        release.created_at = manifest.created_at
        release.created_by = manifest.created_by
        metadata = manifest.metadata
        release.notes = metadata.get("notes") if metadata is not None else None
        release.changelog_url = metadata.get("changelog_url") if metadata is not None else None
        release.metadata_extra = metadata_extra_text(metadata)
        release.findings = [finding.as_dict() for finding in release_findings]
        release.source = self.source[:500]
        release._change_reason = self.reason  # type: ignore[attr-defined]
        release._history_user = self.user  # type: ignore[attr-defined]
        # One moment for every record of this import, so a point-in-time view sees all or none.
        release._history_date = self.now  # type: ignore[attr-defined]
        release.save()

        pins = self.pins(release, stored_pins, repositories, pin_findings)
        self.dependencies(pins, stored_pins)
        self.deployments(release, stored_deployments, environments)
        return release

    def repositories(self) -> dict[str, Repository]:
        entries = {entry.name: entry for entry in self.manifest.repositories}
        found = {repo.name: repo for repo in Repository.objects.filter(name__in=list(entries))}
        missing = [
            Repository(name=name, git_url=entry.url or "")
            for name, entry in entries.items()
            if name not in found
        ]
        if missing:
            for repo in bulk_create_with_history(missing, Repository, **self.history()):
                found[repo.name] = repo
        return found

    def environments(self) -> dict[str, Environment]:
        names = list(self.manifest.environments)
        if not names:
            return {}
        found = {env.name: env for env in Environment.objects.filter(name__in=names)}
        missing = [name for name in names if name not in found]
        if missing:
            last = Environment.objects.aggregate(last=Max("display_order"))["last"]
            start = 0 if last is None else last + 1
            created = [
                Environment(name=name, display_order=start + i) for i, name in enumerate(missing)
            ]
            for env in bulk_create_with_history(created, Environment, **self.history()):
                found[env.name] = env
        return found

    def pins(
        self,
        release: Release,
        stored: list[RepositoryPin],
        repositories: dict[str, Repository],
        pin_findings: dict[int, list[Finding]],
    ) -> dict[str, RepositoryPin]:
        existing = {pin.repository.name: pin for pin in stored}
        wanted = {entry.name for entry in self.manifest.repositories}
        created: list[RepositoryPin] = []
        changed: list[RepositoryPin] = []
        changed_fields: set[str] = set()
        for position, entry in enumerate(self.manifest.repositories):
            offline = [finding.as_dict() for finding in pin_findings.get(position, [])]
            values = {
                "tag": entry.tag,
                "commit_sha": entry.commit_sha,
                "package_version": entry.package_version,
                "url": entry.url or "",
            }
            pin = existing.get(entry.name)
            if pin is None:
                created.append(
                    RepositoryPin(
                        # Ids, not instances: the related-object descriptors cost more
                        # than anything else here when there are a thousand pins.
                        release_id=release.pk,
                        repository_id=repositories[entry.name].pk,
                        position=position,
                        findings=offline,
                        validation_state=_pin_state(offline, checked_online=False),
                        **values,
                    )
                )
                continue
            fields = self.assign(pin, values)
            if fields:
                # Earlier online results were about other values.
                fields |= self.assign(pin, {"validated_at": None})
            # Offline findings are recomputed for every pin (a cycle may come or go because
            # another pin changed); online ones stay while the pin's values do.
            online = [] if fields else [f for f in pin.findings if f["code"] not in OFFLINE_CODES]
            findings = offline + online
            fields |= self.assign(
                pin,
                {
                    "position": position,
                    "findings": findings,
                    "validation_state": _pin_state(
                        findings, checked_online=pin.validated_at is not None
                    ),
                },
            )
            if fields:
                changed.append(pin)
                changed_fields |= fields
        removed = [pin for name, pin in existing.items() if name not in wanted]
        if removed:
            removed_ids = [pin.pk for pin in removed]
            links = PinDependency.objects.filter(
                pin_id__in=removed_ids
            ) | PinDependency.objects.filter(depends_on_id__in=removed_ids)
            self.delete(list(links), PinDependency)
            self.delete(removed, RepositoryPin)
        if changed:
            # Only the columns that changed somewhere: each costs a CASE over all rows.
            bulk_update_with_history(
                changed, RepositoryPin, sorted(changed_fields), **self.history()
            )
        if created:
            created = bulk_create_with_history(created, RepositoryPin, **self.history())
        names = {repository.pk: name for name, repository in repositories.items()}
        pins = {names[pin.repository_id]: pin for pin in created}
        pins.update((name, pin) for name, pin in existing.items() if name in wanted)
        return pins

    def dependencies(self, pins: dict[str, RepositoryPin], existing: list[RepositoryPin]) -> None:
        # Links of pins that were already stored, as prefetched; those touching a removed pin
        # are gone already.
        current: dict[tuple[int, int], PinDependency] = {}
        live = {pin.pk for pin in pins.values()}
        for pin in existing:
            for link in pin.manifest_links:  # type: ignore[attr-defined]
                if link.pin_id in live and link.depends_on_id in live:
                    current[(link.pin_id, link.depends_on_id)] = link
        wanted: dict[tuple[int, int], int] = {}
        for entry in self.manifest.repositories:
            for position, name in enumerate(entry.depends_on):
                wanted[(pins[entry.name].pk, pins[name].pk)] = position
        stale = [link for key, link in current.items() if key not in wanted]
        moved = [
            link
            for key, position in wanted.items()
            if key in current and self.assign(link := current[key], {"position": position})
        ]
        new = [
            PinDependency(pin_id=pin_id, depends_on_id=depends_on_id, position=position)
            for (pin_id, depends_on_id), position in wanted.items()
            if (pin_id, depends_on_id) not in current
        ]
        if stale:
            self.delete(stale, PinDependency)
        if moved:
            bulk_update_with_history(moved, PinDependency, ["position"], **self.history())
        if new:
            bulk_create_with_history(new, PinDependency, **self.history())

    def deployments(
        self,
        release: Release,
        stored: list[EnvironmentDeployment],
        environments: dict[str, Environment],
    ) -> None:
        existing = {deployment.environment.name: deployment for deployment in stored}
        created, changed = [], []
        position = 0
        for name, entry in self.manifest.environments.items():
            values: dict[str, Any] = {
                "namespace": entry.namespace,
                "deployed_at": entry.deployed_at,
                "status": entry.status,
                "position": position,
            }
            position += 1
            deployment = existing.get(name)
            if deployment is None:
                created.append(
                    EnvironmentDeployment(release=release, environment=environments[name], **values)
                )
            elif self.assign(deployment, values):
                changed.append(deployment)
        # Deployments recorded elsewhere are kept, after the file's, in their own order.
        for name, deployment in existing.items():
            if name not in self.manifest.environments:
                if self.assign(deployment, {"position": position}):
                    changed.append(deployment)
                position += 1
        if changed:
            bulk_update_with_history(
                changed,
                EnvironmentDeployment,
                ["position", "namespace", "deployed_at", "status"],
                **self.history(),
            )
        if created:
            bulk_create_with_history(created, EnvironmentDeployment, **self.history())

    @staticmethod
    def assign(obj: Model, values: dict[str, Any]) -> set[str]:
        """Set ``values`` on ``obj``; the names of the fields that changed."""
        changed = set()
        for key, value in values.items():
            if getattr(obj, key) != value:
                setattr(obj, key, value)
                changed.add(key)
        return changed

    def delete(self, objects: list[Any], model: type[Model]) -> None:
        """Delete rows with one history record each, in a constant number of queries.

        ``QuerySet.delete()`` would send a signal per row and simple-history would write its
        records one by one; so the '-' records are written in bulk and the rows removed with a
        raw delete (the callers have already removed every row that points at them).
        """
        if not objects:
            return
        history_model = model.history.model  # type: ignore[attr-defined]
        history_model.objects.bulk_create(
            [
                history_model(
                    history_type="-",
                    history_date=self.now,
                    history_user=self.user,
                    history_change_reason=self.reason,
                    **{
                        field.attname: getattr(obj, field.attname)
                        for field in history_model.tracked_fields
                    },
                )
                for obj in objects
            ]
        )
        queryset = model._default_manager.filter(pk__in=[obj.pk for obj in objects])
        queryset._raw_delete(queryset.db)
