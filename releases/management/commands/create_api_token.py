"""``create_api_token NAME --scope read|write``: a service account and its key, shown once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from releases.api.models import ApiToken, TokenNameTaken
from releases.management.base import RegistryCommand


class Command(RegistryCommand):
    help = "Create an API token (and its service account); the key is printed once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="the token's name, e.g. iac-pipeline")
        parser.add_argument("--scope", choices=ApiToken.Scope.values, default="read")

    def handle(self, *args: Any, name: str, scope: str, **options: Any) -> None:
        try:
            token, key = ApiToken.create_token(name, scope)
        except TokenNameTaken as exc:
            raise CommandError(str(exc)) from None
        self.stderr.write(
            f"Token {token.name!r} ({token.scope}) created. Keep the key now: it is not stored "
            "and cannot be shown again."
        )
        self.stdout.write(key)
