"""Typed failures of a git remote, with messages safe to show to any user.

A message names the URL (which never carries credentials: such URLs are refused) and what went
wrong, never a token or a header. ``kind`` is what a finding or a run's counts use.
"""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["refused", "unreachable", "timeout", "missing"]


class GitRemoteError(Exception):
    """Something about a remote git repository could not be learnt."""

    kind: ErrorKind = "unreachable"

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class RemoteRefused(GitRemoteError):
    """The URL is not one the registry may contact; nothing was run."""

    kind: ErrorKind = "refused"


class RemoteUnreachable(GitRemoteError):
    """git ran but could not list the repository (network, not found, authentication, ...)."""

    kind: ErrorKind = "unreachable"


class RemoteTimeout(RemoteUnreachable):
    """The remote did not answer within the timeout; git and its helpers were killed."""

    kind: ErrorKind = "timeout"


class CommitNotFound(GitRemoteError):
    """A commit is in neither the cached clone nor the remote."""

    kind: ErrorKind = "missing"
