"""``validate_manifest PATH... [--format text|json]``: check files without the database."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from releases.importing import duplicate_versions, read_manifests
from releases.management.arguments import manifest_paths
from releases.manifests import Finding, Manifest, ManifestRejected, check_manifest
from releases.progress import Progress


class Command(BaseCommand):
    help = (
        "Check manifest files (offline checks) without touching the database. "
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
        outcomes = read_manifests(files, progress=lambda path: progress.step(str(path)))
        progress.close()
        # What import_manifest would refuse for the whole call is refused here too.
        accepted = [
            (index, source, manifest)
            for index, (source, manifest) in enumerate(outcomes)
            if isinstance(manifest, Manifest)
        ]
        duplicates = duplicate_versions([(source, m) for _, source, m in accepted])
        for position, rejection in duplicates.items():
            index, source, _ = accepted[position]
            outcomes[index] = (source, rejection)
        reports = [
            self.refused(outcome)
            if isinstance(outcome, ManifestRejected)
            else self.report(source, outcome)
            for source, outcome in outcomes
        ]
        if options["format"] == "json":
            self.stdout.write(json.dumps(reports, indent=2))
        else:
            for report in reports:
                self.stdout.write(self.describe(report))
                for finding in report["findings"]:
                    self.stdout.write(f"  {Finding.from_dict(finding).format()}")
        failed = sum(1 for report in reports if not report["valid"])
        if options["format"] == "text":
            self.stdout.write(f"checked {len(reports)} manifest(s): {failed} with errors")
        if failed:
            raise CommandError(f"{failed} of {len(reports)} manifest(s) have errors", returncode=1)

    def refused(self, exc: ManifestRejected) -> dict[str, Any]:
        return {
            "file": exc.source,
            "version": None,
            "rejected": True,
            "valid": False,
            "findings": [error.as_dict() for error in exc.errors],
        }

    def report(self, source: str, manifest: Manifest) -> dict[str, Any]:
        findings = check_manifest(manifest)
        return {
            "file": source,
            "version": manifest.version,
            "rejected": False,
            "valid": not any(finding.severity == "error" for finding in findings),
            "findings": [finding.as_dict() for finding in findings],
        }

    def describe(self, report: dict[str, Any]) -> str:
        if report["rejected"]:
            return f"{report['file']}: rejected"
        errors = sum(1 for finding in report["findings"] if finding["severity"] == "error")
        warnings = len(report["findings"]) - errors
        if not report["findings"]:
            return f"{report['file']}: {report['version']} ok"
        return f"{report['file']}: {report['version']} {errors} error(s), {warnings} warning(s)"
