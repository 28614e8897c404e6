"""``sync_notion [VERSION...] [--full] [--dry-run]``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from releases.management.base import RegistryCommand
from releases.models import Release, RepositoryPin
from releases.notion.client import NotionRefused, NotionUnavailable, connect
from releases.notion.models import NotionChange
from releases.notion.reconcile import reconcile
from releases.notion.sync import Outcome, sync_release
from releases.progress import Progress


class Command(RegistryCommand):
    help = (
        "Send the changes queued for Notion now (failed ones too, without waiting for their "
        "backoff). --full then compares every page with the registry, reports the drift "
        "(missing, stale, trashed by hand, orphaned pages, missing properties) and repairs "
        "it. --dry-run lists what is queued and the drift, and writes nothing. Exit 0 ok, "
        "1 failures (or the sync is not configured), 2 usage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("versions", nargs="*", metavar="VERSION")
        parser.add_argument("--full", action="store_true", help="Reconcile every page.")
        parser.add_argument("--dry-run", action="store_true", help="Report; write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        versions: list[str] = options["versions"]
        dry_run: bool = options["dry_run"]
        release_ids = self.release_ids(versions)
        queued = NotionChange.objects.all()
        if release_ids is not None:
            queued = queued.filter(release_id__in=release_ids)
        notion = connect()
        if notion is None:
            raise CommandError(
                "the Notion sync is off (set NOTION_TOKEN and NOTION_RELEASE_VIEWS_DATABASE_ID); "
                f"{queued.count()} change(s) queued",
                returncode=1,
            )
        failures: list[str] = []
        try:
            if dry_run:
                self.list_queued(queued)
            else:
                failures += self.send(queued, notion)
            if options["full"]:
                failures += self.full(notion, versions or None, dry_run)
        except (NotionRefused, NotionUnavailable) as exc:
            raise CommandError(f"Notion: {exc}", returncode=1) from None
        finally:
            notion.close()
        if failures:
            raise CommandError(f"{len(failures)} failure(s)", returncode=1)

    def release_ids(self, versions: list[str]) -> list[int] | None:
        if not versions:
            return None
        known = dict(Release.objects.filter(version__in=versions).values_list("version", "pk"))
        # A deleted release's changes are still queued under its version.
        queued = dict(
            NotionChange.objects.filter(version__in=versions).values_list("version", "release_id")
        )
        unknown = [v for v in versions if v not in known and v not in queued]
        if unknown:
            raise CommandError(f"unknown version(s): {', '.join(unknown)}", returncode=1)
        return sorted({*known.values(), *queued.values()})

    def list_queued(self, queued: Any) -> None:
        rows = list(queued)
        for row in rows:
            line = f"{row.state} {row}"
            if row.attempts:
                line += f" (attempt {row.attempts}: {row.last_error})"
            self.stdout.write(line)
        self.stdout.write(f"{len(rows)} change(s) queued (dry run: nothing sent)")

    def send(self, queued: Any, notion: Any) -> list[str]:
        # Asked for now: no backoff to wait for.
        queued.update(next_attempt_at=timezone.now())
        release_ids = sorted(set(queued.values_list("release_id", flat=True)))
        progress = Progress(self.stderr, len(release_ids), "sending")
        outcome = Outcome()
        try:
            for release_id in release_ids:
                outcome.add(sync_release(notion, release_id))
                progress.step(str(release_id))
        finally:
            progress.close()
        for failure in outcome.failed:
            self.stderr.write(f"failed {failure}")
        busy = f", {outcome.busy} release(s) busy in a worker" if outcome.busy else ""
        self.stdout.write(
            f"sent: {outcome.created} created, {outcome.updated} updated, "
            f"{outcome.trashed} trashed, {outcome.unchanged} unchanged, "
            f"{len(outcome.failed)} failed{busy}"
        )
        return outcome.failed

    def full(self, notion: Any, versions: list[str] | None, dry_run: bool) -> list[str]:
        releases = Release.objects.all()
        if versions:
            releases = releases.filter(version__in=versions)
        total = releases.count() + RepositoryPin.objects.filter(release__in=releases).count()
        progress = Progress(self.stderr, total, "reconciling")
        report = reconcile(notion, versions=versions, dry_run=dry_run, step=progress.step)
        progress.close()
        for drift in report.drift:
            detail = f" ({drift.detail})" if drift.detail else ""
            self.stdout.write(f"{drift.kind} {drift.key}{detail}")
        for failure in report.failed:
            self.stderr.write(f"failed {failure}")
        kinds = Counter(d.kind for d in report.drift)
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none"
        done = "dry run: nothing repaired" if dry_run else f"{report.repaired} repaired"
        self.stdout.write(f"checked {report.checked} page(s); drift: {summary}; {done}")
        return report.failed
