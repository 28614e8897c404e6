"""``validate_manifest PATH... [--online] [--format text|json]``: check files without the
database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from releases.management.arguments import manifest_paths
from releases.management.base import RegistryCommand
from releases.manifests.files import read_manifests
from releases.manifests.report import DocumentReport, ValidityReport, validate_files
from releases.progress import Progress


# Only the pure codec (releases.manifests) is used here: no model, no import service, so the
# command runs where no database is configured or reachable (a CI job checking a pull request).
# --online adds the pure online checks (releases.validation.online): the git hosts and the
# package index are asked, the database still is not.
class Command(RegistryCommand):
    help = (
        "Check manifest files (offline checks) without touching the database: one line per "
        "file, each finding below it. --online also checks every pin against its git host "
        "(tag exists, commit is the tag's; one ls-remote per repository) and the package "
        "index when REGISTRY_PACKAGE_INDEX_URL is set. --format json prints the same as a "
        "JSON list. "
        "Exit 0 no errors, 1 errors, 2 usage."
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--format", choices=["text", "json"], default="text")
        parser.add_argument(
            "--online",
            action="store_true",
            help="Also check tags, commits and package versions against the git hosts.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        files = manifest_paths(options["paths"])
        progress = Progress(self.stderr, len(files), "checking")
        if options["online"]:
            report = self.check_online(files, progress)
        else:
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

    def check_online(self, files: list[Path], progress: Progress) -> ValidityReport:
        from registry.git.policy import policy_from_settings
        from releases.validation.online import online_report
        from releases.validation.package_index import package_index_from_settings

        outcomes = read_manifests(
            files, max_bytes=settings.REGISTRY_MANIFEST_MAX_BYTES, progress=progress.step
        )
        if progress.enabled:
            self.stderr.write(
                "\r\x1b[Kasking the git hosts…", style_func=lambda text: text, ending=""
            )
            self.stderr.flush()
        index = package_index_from_settings()
        try:
            return online_report(
                outcomes,
                policy=policy_from_settings(),
                template=settings.REGISTRY_GIT_URL_TEMPLATE,
                package_index=index,
                concurrency=settings.REGISTRY_VALIDATION_CONCURRENCY,
            )
        finally:
            if index is not None:
                index.close()

    def describe(self, document: DocumentReport) -> str:
        if document.rejected:
            return f"{document.source}: rejected"
        if not document.findings:
            return f"{document.source}: {document.version} ok"
        return (
            f"{document.source}: {document.version} {document.errors} error(s), "
            f"{document.warnings} warning(s)"
        )
