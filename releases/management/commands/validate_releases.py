"""``validate_releases [VERSION...] [--all] [--wait]``: check stored pins against the git hosts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from releases.exporting import UnknownRelease
from releases.management.base import RegistryCommand
from releases.manifests.files import escape_text
from releases.models import Release
from releases.progress import Progress
from releases.validation.models import ValidationRun
from releases.validation.runs import errors_found, request_runs, validate_releases_now

REQUESTED_BY = "validate_releases"


class Command(RegistryCommand):
    help = (
        "Validate stored releases against the git hosts (and the package index when one is "
        "set): one ls-remote per repository for all of them. Without --wait the runs are "
        "queued for the worker and their ids printed; with --wait they run here and every "
        "pin's result is printed. Exit 0 ok, 1 errors found (or unknown version), 2 usage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("versions", nargs="*", metavar="VERSION")
        parser.add_argument("--all", action="store_true", help="Every stored release.")
        parser.add_argument(
            "--wait", action="store_true", help="Validate now, here, and print the results."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        releases = self.releases(options["versions"], every=options["all"])
        if not options["wait"]:
            runs = request_runs(releases, requested_by=REQUESTED_BY)
            for run in runs:
                self.stdout.write(f"{run.release.version}: queued validation run #{run.pk}")
            self.stdout.write(f"queued {len(runs)} validation run(s)")
            return
        progress = Progress(self.stderr, len(releases), "validating")
        runs = validate_releases_now(releases, requested_by=REQUESTED_BY, progress=progress.step)
        progress.close()
        for run in runs:
            self.describe(run)
        failed = [run for run in runs if run.errors_found]
        self.stdout.write(
            f"validated {len(runs)} release(s): {len(failed)} with errors or not carried out"
        )
        if errors_found(runs):
            raise CommandError(f"{len(failed)} of {len(runs)} release(s) have errors", returncode=1)

    def releases(self, versions: list[str], *, every: bool) -> list[Release]:
        if every and versions:
            raise CommandError("give versions or --all, not both", returncode=2)
        if not every and not versions:
            raise CommandError("give at least one version, or --all", returncode=2)
        if every:
            return list(Release.objects.order_by("pk"))
        wanted = list(dict.fromkeys(versions))
        found = {release.version: release for release in Release.objects.filter(version__in=wanted)}
        missing = [version for version in wanted if version not in found]
        if missing:
            raise CommandError(escape_text(str(UnknownRelease(missing))), returncode=1)
        return [found[version] for version in wanted]

    def describe(self, run: ValidationRun) -> None:
        version = run.release.version
        if run.state != ValidationRun.State.DONE:
            self.stdout.write(f"{version}: run #{run.pk} {run.state}: {run.error}")
            return
        if run.superseded and not run.results:
            self.stdout.write(
                f"{version}: run #{run.pk} {run.outcome}, which was validating the release "
                "and is still running: its results will be this run's"
            )
            return
        counts = ", ".join(f"{count} {state}" for state, count in run.counts.items() if count)
        also = f" ({run.outcome})" if run.superseded else ""
        self.stdout.write(f"{version}: run #{run.pk}{also} {counts or 'no pins'}")
        for result in run.results:
            commit = f" {result['commit']}" if result["commit"] else ""
            self.stdout.write(f"  {result['repository']}: {result['state']}{commit}")
            for finding in result["findings"]:
                self.stdout.write(
                    f"    {finding['severity']} {finding['code']} at {finding['path']}: "
                    f"{finding['message']}"
                )
