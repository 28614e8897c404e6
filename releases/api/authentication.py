"""``Authorization: Token <key>`` against :class:`~releases.api.models.ApiToken`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from .models import ApiToken


class ApiTokenAuthentication(BaseAuthentication):
    """Authenticates as the token's service account; ``request.auth`` is the token."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != self.keyword.lower().encode():
            return None
        if len(words) != 2:
            raise AuthenticationFailed("Invalid token header: expected 'Token <key>'.")
        try:
            key = words[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid token.") from None
        token, along = ApiToken.find_with(key, read_along(request))
        if token is None:
            raise AuthenticationFailed("Invalid or revoked token.")
        request._request.cache_read_along = along  # type: ignore[attr-defined]
        token.record_use()
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return self.keyword


def read_along(request: Request) -> Sequence[str]:
    """The cache keys the view will read (``cache_keys_read_along``), read with the token in
    one round trip; the view finds them with :func:`read_along_values`."""
    view = (request.parser_context or {}).get("view")
    keys: Sequence[str] = getattr(view, "cache_keys_read_along", ())
    return keys


def read_along_values(request: Request) -> dict[str, Any] | None:
    """What :func:`read_along` read for this request (``None``: nothing was read, such as
    under session authentication)."""
    values: dict[str, Any] | None = getattr(request._request, "cache_read_along", None)
    return values


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents ``Authorization: Token <key>`` in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`; keys come from `manage.py create_api_token`.",
        }
