"""``validate_manifest PATH... [--format text|json]``: check files without the database."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from releases.management.arguments import manifest_paths
from releases.management.base import RegistryCommand
from releases.manifests.report import DocumentReport, validate_files
from releases.progress import Progress


# Only the pure codec (releases.manifests) is used here: no model, no import service, so the
# command runs where no database is configured or reachable (a CI job checking a pull request).
class Command(RegistryCommand):
    help = (
        "Check manifest files (offline checks) without touching the database: one line per "
        "file, each finding below it. --format json prints the same as a JSON list. "
        "Exit 0 no errors, 1 errors, 2 usage."
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--format", choices=["text", "json"], default="text")

    def handle(self, *args: Any, **options: Any) -> None:
        files = manifest_paths(options["paths"])
        progress = Progress(self.stderr, len(files), "checking")
        report = validate_files(
            files, max_bytes=settings.REGISTRY_MANIFEST_MAX_BYTES, progress=progress.step
        )
        progress.close()
        if options["format"] == "json":
            self.stdout.write(
                json.dumps([document.as_dict() for document in report.documents], indent=2)
            )
        else:
            for document in report.documents:
                self.stdout.write(self.describe(document))
                for finding in document.findings:
                    self.stdout.write(f"  {finding.format()}")
            self.stdout.write(
                f"checked {len(report.documents)} manifest(s): {report.failed} with errors"
            )
        if report.failed:
            raise CommandError(
                f"{report.failed} of {len(report.documents)} manifest(s) have errors", returncode=1
            )

    def describe(self, document: DocumentReport) -> str:
        if document.rejected:
            return f"{document.source}: rejected"
        if not document.findings:
            return f"{document.source}: {document.version} ok"
        return (
            f"{document.source}: {document.version} {document.errors} error(s), "
            f"{document.warnings} warning(s)"
        )
