"""``check_promotion VERSION ENVIRONMENT``: may the release go live there now?"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from releases.management.base import RegistryCommand
from releases.models import Release
from releases.promotion import gate


class Command(RegistryCommand):
    help = (
        "Check VERSION against ENVIRONMENT's promotion policy now: upstream environments and "
        "soak time, pin validity, freeze windows, approvals. Prints every rule's result. "
        "Exit 0 allowed, 1 refused (or unknown version), 2 usage."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("version", metavar="VERSION")
        parser.add_argument("environment", metavar="ENVIRONMENT")

    def handle(self, *args: Any, **options: Any) -> None:
        release = Release.objects.filter(version=options["version"]).first()
        if release is None:
            raise CommandError(f"no release {options['version']!r} is stored", returncode=1)
        verdict = gate.check(release, options["environment"])
        for result in verdict.rules:
            mark = "ok     " if result.ok else "REFUSED"
            self.stdout.write(f"{mark} {result.rule}: {result.message}")
        if not verdict.rules:
            self.stdout.write(f"no promotion policy for {verdict.environment}")
        if not verdict.allowed:
            raise CommandError(
                f"{verdict.version} may not go live in {verdict.environment}: "
                + ", ".join(result.rule for result in verdict.unmet),
                returncode=1,
            )
        self.stdout.write(f"{verdict.version} may go live in {verdict.environment}")
