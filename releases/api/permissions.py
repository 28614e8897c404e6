"""Who may do what: read tokens read, write tokens write, staff sessions do both."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from .models import ApiToken


class TokenScope(BasePermission):
    """A token's scope decides writes; without a token, a staff session (browsable API)."""

    message = "This token may only read; writing needs a token with the write scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        token = request.auth if isinstance(request.auth, ApiToken) else None
        if token is None:
            self.message = "The API needs a token, or a staff session for the browsable API."
            return bool(user.is_staff)
        return request.method in SAFE_METHODS or token.can_write
