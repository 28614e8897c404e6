"""``sync_manifests_repo [--dry-run]``: import the IaC repository's manifests folder from git."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from registry.git.errors import GitRemoteError
from releases.gitops.models import ManifestSync
from releases.gitops.repository import repository_from_settings
from releases.gitops.sync import SyncReport, run_sync, sync_manifests
from releases.management.base import RegistryCommand
from releases.progress import Progress


class Command(RegistryCommand):
    help = (
        "Fetch REGISTRY_MANIFESTS_REPO_URL and import the manifests folder of every branch "
        "matching REGISTRY_MANIFESTS_REPO_BRANCHES whose content changed since the last sync "
        "(release/X.Y's file of version X.Y[.Z] wins over main's). Prints a line per file "
        "imported, rejected (path, branch, commit and each located error), in conflict or "
        "removed from the repository, and a summary. Exit 0 ok, 1 a file rejected, a "
        "conflict or the repository unreachable, 2 usage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Fetch and compare, show what would change; write nothing to the registry.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.REGISTRY_MANIFESTS_REPO_URL:
            raise CommandError("REGISTRY_MANIFESTS_REPO_URL is not set", returncode=1)
        try:
            repository = repository_from_settings()
        except GitRemoteError as exc:  # a URL the policy refuses
            raise CommandError(str(exc), returncode=1) from None
        progress = _Progress(self)
        if options["dry_run"]:
            try:
                report = sync_manifests(repository, dry_run=True, progress=progress)
            except GitRemoteError as exc:
                raise CommandError(str(exc), returncode=1) from None
            finally:
                progress.close()
        else:
            run, found = run_sync(trigger="command", repository=repository, progress=progress)
            progress.close()
            if run is None or found is None or run.state == ManifestSync.State.FAILED:
                error = run.error if run is not None else "another worker took the run"
                raise CommandError(f"the sync failed: {error}", returncode=1)
            report = found
        self.show(report, options["verbosity"])
        if not report.ok:
            raise CommandError(
                f"{len(report.rejections)} file(s) rejected, {len(report.conflicts)} "
                "conflict(s): see above",
                returncode=1,
            )

    def show(self, report: SyncReport, verbosity: int) -> None:
        if verbosity >= 1:
            for item in report.imported:
                summary = item.summary
                if report.dry_run and item.action != "unchanged":
                    summary = f"would be {summary}"
                self.stdout.write(f"{item.file.where}: {item.file.version} {summary}")
            for conflict in report.conflicts:
                self.stderr.write(conflict.line())
            for rejection in report.rejections:
                for line in rejection.lines():
                    self.stderr.write(line)
            for edited in report.edited:
                self.stdout.write(edited.line())
            for removed in report.removed:
                self.stdout.write(
                    f"{removed.branch}@{removed.commit[:12]}:{removed.path}: {removed.version} "
                    "removed from the repository (kept in the registry)"
                )
        self.stdout.write(report.summary())


class _Progress:
    """The terminal's progress line, made once the number of files to import is known."""

    def __init__(self, command: Command) -> None:
        self.command = command
        self.line: Progress | None = None

    def __call__(self, item: str, total: int) -> None:
        if self.line is None:
            self.line = Progress(self.command.stderr, total, "importing")
        self.line.step(item)

    def close(self) -> None:
        if self.line is not None:
            self.line.close()
