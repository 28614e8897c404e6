"""``validate_manifest PATH... [--format text|json]``: check files without the database."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from releases.management.arguments import manifest_paths
from releases.manifests import Finding, ManifestRejected, check_manifest, read_manifest_file
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
        reports = []
        progress = Progress(sys.stderr, len(files), "checking")
        for path in files:
            progress.step(str(path))
            reports.append(self.report(path))
        progress.close()
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

    def report(self, path: Path) -> dict[str, Any]:
        try:
            manifest = read_manifest_file(path, max_bytes=settings.REGISTRY_MANIFEST_MAX_BYTES)
        except ManifestRejected as exc:
            return {
                "file": str(path),
                "version": None,
                "rejected": True,
                "valid": False,
                "findings": [error.as_dict() for error in exc.errors],
            }
        findings = check_manifest(manifest)
        return {
            "file": str(path),
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
