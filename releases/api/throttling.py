"""Requests per token (or per session user, or per address), counted in the cache."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiToken


class TokenRateThrottle(SimpleRateThrottle):
    """``REGISTRY_API_THROTTLE_RATE`` (``"1200/minute"``) for each token separately."""

    scope = "api_token"

    def get_rate(self) -> str | None:
        # Read at request time (not import time) so that settings overrides apply.
        return settings.REGISTRY_API_THROTTLE_RATE or None

    def get_cache_key(self, request: Request, view: Any) -> str:
        if isinstance(request.auth, ApiToken):
            ident = f"token-{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"address-{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
