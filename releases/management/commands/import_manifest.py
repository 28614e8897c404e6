"""``import_manifest PATH... [--dry-run] [--strict] [--only-new]``: load manifest files and
folders."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from releases.importing import ImportResult, ManifestsRejected, import_manifests
from releases.management.arguments import manifest_paths
from releases.management.base import RegistryCommand
from releases.manifests import Manifest, ManifestRejected
from releases.manifests.files import read_manifests
from releases.progress import Progress
from releases.promotion.transitions import overriding


class Command(RegistryCommand):
    help = (
        "Import release manifests (.yaml, .yml, .json files, or folders of them) in one "
        "transaction: all are stored, or none. Prints one line per file (created, updated "
        "with what changed, unchanged), its findings as a count, and a summary. "
        "A deployment its environment's promotion policy refuses rejects the call "
        "(--override-reason records it anyway). "
        "-v 2 lists every finding under its file (as validate_manifest does), -v 0 prints "
        "the summary only. Rejections go to stderr, each with its file, path and line. "
        "Exit 0 ok, 1 rejected (nothing written), 2 usage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument(
            "--dry-run", action="store_true", help="Show what would change; write nothing."
        )
        parser.add_argument(
            "--strict", action="store_true", help="Refuse manifests with error findings."
        )
        parser.add_argument(
            "--only-new",
            action="store_true",
            help="Import only versions not stored yet; leave existing releases untouched.",
        )
        parser.add_argument(
            "--override-reason",
            metavar="REASON",
            help="Record deployments their promotion policy refuses anyway, with this reason "
            "(stored with each override; shown in history, evidence and Notion).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity: int = options["verbosity"]
        files = manifest_paths(options["paths"])
        progress = Progress(self.stderr, len(files), "reading")
        outcomes = read_manifests(
            files, max_bytes=settings.REGISTRY_MANIFEST_MAX_BYTES, progress=progress.step
        )
        progress.close()
        manifests = [(s, m) for s, m in outcomes if isinstance(m, Manifest)]
        rejected = [r for _, r in outcomes if isinstance(r, ManifestRejected)]
        if rejected:
            self.reject(rejected, len(files))
        progress = Progress(self.stderr, len(manifests), "importing")
        try:
            with overriding(options["override_reason"], trusted=True):
                results = import_manifests(
                    manifests,
                    dry_run=options["dry_run"],
                    strict=options["strict"],
                    only_new=options["only_new"],
                    progress=lambda result: progress.step(result.source),
                )
        except ManifestsRejected as exc:
            progress.close()
            self.reject(exc.rejections, len(files))
        progress.close()
        if verbosity >= 1:
            for result in results:
                self.stdout.write(self.describe(result, options["dry_run"], verbosity))
                if verbosity >= 2:
                    for finding in result.findings:
                        self.stdout.write(f"  {finding.format()}")
        counts = {
            action: sum(r.action == action for r in results)
            for action in ("created", "updated", "unchanged", "skipped")
        }
        verb = "would import" if options["dry_run"] else "imported"
        self.stdout.write(
            f"{verb} {len(results)} manifest(s): {counts['created']} created, "
            f"{counts['updated']} updated, {counts['unchanged']} unchanged"
            + (f", {counts['skipped']} skipped (already stored)" if counts["skipped"] else "")
            + ("; nothing written (dry run)" if options["dry_run"] else "")
        )

    def describe(self, result: ImportResult, dry_run: bool, verbosity: int) -> str:
        if result.skipped:
            return f"{result.source}: {result.version} skipped (already stored)"
        summary = result.diff.summary()
        if dry_run and result.action != "unchanged":
            summary = f"would be {summary}"
        line = f"{result.source}: {result.version} {summary}"
        if result.findings and verbosity < 2:
            # A count, not the findings: they are stored and shown where they can be acted on,
            # and a first run of the examples should not read like a failure.
            count = len(result.findings)
            line += (
                f"; {count} finding{'s' if count != 1 else ''}: see the admin or validate_manifest"
            )
        return line

    def reject(self, rejected: list[ManifestRejected], total: int) -> None:
        for exc in rejected:
            for error in exc.errors:
                self.stderr.write(error.format(exc.source))
        raise CommandError(
            f"{len(rejected)} of {total} manifest(s) rejected; nothing was written", returncode=1
        )
