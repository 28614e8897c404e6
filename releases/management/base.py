"""What every command of the project shares."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class RegistryCommand(BaseCommand):
    """A management command whose options must be spelled out.

    argparse takes any unambiguous prefix of a long option by default, so ``--dry`` would mean
    ``--dry-run`` today and something else (or an error) once another option starts the same
    way: a script's meaning would change with an upgrade. An unknown option is refused
    instead (exit 2), and the message names it.
    """

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("allow_abbrev", False)
        return super().create_parser(prog_name, subcommand, **kwargs)
