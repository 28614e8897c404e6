"""Which remotes the registry may contact, how long it waits, and as whom.

A :class:`GitPolicy` is plain data passed to every git call, so tests allow ``127.0.0.1`` and
``git://`` without touching settings, and production reads CONTRACT §5 once through
:func:`policy_from_settings`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .credentials import GitCredentials

# What the client can speak at all. ``ssh`` would need keys and host-key handling of its own;
# ``file`` and ``ext`` reach the local machine and are refused whatever the settings say.
SUPPORTED_SCHEMES = frozenset({"https", "http", "git"})
DEFAULT_SCHEMES = ("https",)
DEFAULT_HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
DEFAULT_TIMEOUT = 20.0


@dataclass(frozen=True)
class GitPolicy:
    """Allowed schemes and hosts (lower case), the timeout per remote in seconds, the
    credentials per host, and the git binary to run."""

    allowed_schemes: frozenset[str] = frozenset(DEFAULT_SCHEMES)
    allowed_hosts: frozenset[str] = frozenset(DEFAULT_HOSTS)
    timeout: float = DEFAULT_TIMEOUT
    credentials: GitCredentials = field(default_factory=GitCredentials)
    git: str = "git"

    @classmethod
    def build(
        cls,
        *,
        schemes: Iterable[str] = DEFAULT_SCHEMES,
        hosts: Iterable[str] = DEFAULT_HOSTS,
        timeout: float = DEFAULT_TIMEOUT,
        credentials: GitCredentials | Mapping[str, str] | str | None = None,
        git: str = "git",
    ) -> GitPolicy:
        """A policy from loosely typed values (lists, a credentials mapping or string)."""
        if isinstance(credentials, str):
            credentials = GitCredentials.parse(credentials)
        elif not isinstance(credentials, GitCredentials):
            credentials = GitCredentials(credentials)
        if timeout <= 0:
            raise ValueError("the git timeout must be a positive number of seconds")
        return cls(
            allowed_schemes=frozenset(s.strip().lower() for s in schemes if s.strip()),
            allowed_hosts=frozenset(h.strip().lower().rstrip(".") for h in hosts if h.strip()),
            timeout=float(timeout),
            credentials=credentials,
            git=git,
        )

    def git_path(self) -> str:
        """The git binary as an absolute path (found on PATH once, not per call)."""
        found = shutil.which(self.git)
        if found is None:
            raise FileNotFoundError(f"git not found: {self.git!r}")
        return found


def policy_from_settings() -> GitPolicy:
    """The policy of CONTRACT §5: ``REGISTRY_GIT_ALLOWED_SCHEMES``, ``_ALLOWED_HOSTS``,
    ``_TIMEOUT`` and ``_CREDENTIALS``, with the contract's defaults when a setting is absent."""
    from django.conf import settings

    credentials = getattr(settings, "REGISTRY_GIT_CREDENTIALS", None)
    if isinstance(credentials, Mapping):
        # config.environment reads the variable as {host: GitCredential(user, token)}.
        credentials = {
            host: f"{value.user}:{value.token}" if hasattr(value, "token") else value
            for host, value in credentials.items()
        }
    return GitPolicy.build(
        schemes=getattr(settings, "REGISTRY_GIT_ALLOWED_SCHEMES", DEFAULT_SCHEMES),
        hosts=getattr(settings, "REGISTRY_GIT_ALLOWED_HOSTS", DEFAULT_HOSTS),
        timeout=float(getattr(settings, "REGISTRY_GIT_TIMEOUT", DEFAULT_TIMEOUT)),
        credentials=credentials,
    )
