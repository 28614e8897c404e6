"""Typed values read from environment variables, for the settings modules.

Each function raises ``ImproperlyConfigured`` naming the variable, so a wrong setting stops
the process at start with a message an operator can act on. Messages never repeat a value
that could hold a secret.
"""

import math
import os
import re
from typing import NamedTuple
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

# A host name as REGISTRY_GIT_ALLOWED_HOSTS spells it: no scheme, port, user or path.
HOST_NAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")


def required(name: str, why: str) -> str:
    """The value of the environment variable ``name``; refuse an unset or empty one."""
    value = os.environ.get(name, "").strip()
    if not value:
        raise ImproperlyConfigured(f"Set the {name} environment variable: {why}.")
    return value


class GitCredential(NamedTuple):
    """The user and token the git validator sends to one host."""

    user: str
    token: str

    def __repr__(self) -> str:
        # Shown in logs, tracebacks and debug pages: the token never is.
        return f"GitCredential(user={self.user!r}, token='***')"


def git_credentials(
    raw: str, variable: str = "REGISTRY_GIT_CREDENTIALS"
) -> dict[str, GitCredential]:
    """Parse ``host=user:token,host2=user:token`` into ``{host: GitCredential}``.

    The token may contain ``=`` and ``:``; hosts are compared in lower case. A malformed
    entry is named by its position (and its host when that part is sound), never by the
    text around the token.
    """
    credentials: dict[str, GitCredential] = {}
    for position, entry in enumerate(raw.split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue  # a trailing comma or an empty variable
        where = f"{variable} entry {position}"
        host, equals, user_token = entry.partition("=")
        host = host.strip().lower()
        if not equals or not HOST_NAME.fullmatch(host):
            # The part before "=" may be the token itself (user:token=host), so it is not shown.
            raise ImproperlyConfigured(
                f"{where} is not host=user:token: the part before '=' must be a host name "
                "such as github.com"
            )
        user, colon, token = user_token.partition(":")
        if not colon or not user.strip() or not token.strip():
            raise ImproperlyConfigured(
                f"{where} ({host}) is not host=user:token: the user or the token is missing"
            )
        if host in credentials:
            raise ImproperlyConfigured(f"{where} ({host}) repeats a host given before it")
        credentials[host] = GitCredential(user.strip(), token.strip())
    return credentials


def public_url(raw: str | None, variable: str = "REGISTRY_PUBLIC_URL") -> str | None:
    """An absolute http(s) address without credentials, returned without a trailing ``/``.

    Unset or empty gives None.
    """
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ImproperlyConfigured(
            f"{variable} must be an absolute http:// or https:// address, "
            "such as https://registry.example.org"
        )
    if parts.username is not None or parts.password is not None:
        raise ImproperlyConfigured(f"{variable} must not carry a user or password")
    if parts.query or parts.fragment:
        raise ImproperlyConfigured(f"{variable} must not have a query or a fragment")
    return raw.rstrip("/")


def positive_number(raw: str, variable: str) -> float:
    """``raw`` as a number; refuse text, zero, negative numbers and infinity."""
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise ImproperlyConfigured(f"{variable} must be a number above 0, not {raw!r}")
    return value
