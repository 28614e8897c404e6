"""Backport safety: does a pin's new commit descend from its old one?

As openstack/releases does it, ancestry is answered by ``git merge-base --is-ancestor`` in a
clone, but here one cached, bare, blobless (``--filter=blob:none``: commits and trees, no file
contents) clone per repository URL, reused by every later check and fetched again only when
a commit it is asked about is not in it yet (commits never change, so two known commits never
need the network). Local questions never reach the network (``offline``: a partial clone
would otherwise fetch a missing commit by itself, with its whole history, outside our
records). Every git call goes through the hardened runner of :mod:`registry.git.remote`, and
the URL is checked against the policy each time.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from .errors import CommitNotFound, GitRemoteError
from .policy import GitPolicy
from .remote import run_git, run_git_status
from .urls import RemoteUrl, checked_url

_HEX_RE = re.compile(r"[0-9a-fA-F]{7,64}")
_FULL_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")


@dataclass(frozen=True)
class Commit:
    """One commit as ``git log`` tells it; ``date`` is the author date in UTC (RFC 3339)."""

    sha: str
    subject: str
    author: str
    email: str
    date: str


Direction = Literal["same", "forward", "backwards", "diverged", "unrelated"]


@dataclass(frozen=True)
class CommitRange:
    """The way from one commit of a repository to another (:meth:`CloneCache.commits_between`)."""

    direction: Direction
    old: str
    new: str
    commits: list[Commit]
    total: int
    left_behind: int = 0


def _utc(date: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(date)
    except ValueError:
        return date
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CloneCache:
    """Cached partial clones under ``root``, one per URL (named by the URL's SHA-256).

    ``clone_timeout`` bounds the first clone of a repository (default: ten times the policy's
    timeout); fetches and local commands have the policy's timeout.
    """

    def __init__(
        self, root: Path, policy: GitPolicy, *, clone_timeout: float | None = None
    ) -> None:
        self.root = Path(root)
        self.policy = policy
        self.clone_policy = replace(policy, timeout=clone_timeout or policy.timeout * 10)

    def path_for(self, url: str) -> Path:
        return self.root / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".git")

    def is_descendant(self, url: str, ancestor: str, descendant: str) -> bool:
        """Whether ``descendant`` is ``ancestor`` or has it in its history.

        SHAs may be abbreviated. Raises :class:`RemoteRefused`, :class:`RemoteUnreachable`,
        :class:`RemoteTimeout`, or :class:`CommitNotFound` when a commit is in neither the
        clone nor the remote.
        """
        remote = checked_url(url, self.policy)
        for sha in (ancestor, descendant):
            if not _HEX_RE.fullmatch(sha):
                raise CommitNotFound(remote.url, f"{sha[:80]!r} is not a commit SHA")
        with self._locked(remote) as path:
            old = self._commit(path, remote, ancestor)
            new = self._commit(path, remote, descendant)
            status, _, reason = run_git_status(
                ["merge-base", "--is-ancestor", old, new],
                policy=self.policy,
                remote=remote,
                cwd=path,
                offline=True,
            )
        if status not in (0, 1):
            raise GitRemoteError(remote.url, f"ancestry could not be computed: {reason}")
        return status == 0

    def commits_between(self, url: str, old: str, new: str, *, limit: int) -> CommitRange:
        """How a pin's history goes from commit ``old`` to commit ``new``, from the cached
        clone (fetched only when one of them is not in it yet).

        ``forward``: the commits of ``old..new``, newest first; ``backwards`` (``new`` is an
        ancestor of ``old``): the commits the move takes away (``new..old``); ``diverged``: the
        commits of ``old..new`` and how many of ``old``'s are left behind; ``unrelated``: no
        common history, no commits listed. At most ``limit`` commits are listed; ``total``
        counts them all. Raises as :meth:`is_descendant` does.
        """
        remote = checked_url(url, self.policy)
        for sha in (old, new):
            if not _HEX_RE.fullmatch(sha):
                raise CommitNotFound(remote.url, f"{sha[:80]!r} is not a commit SHA")
        with self._locked(remote) as path:
            before, after = self._both(path, remote, old, new)
            if before == after:
                return CommitRange("same", before, after, [], 0)
            # Commits only in ``before`` and only in ``after``, in one walk.
            behind, ahead = (
                int(count)
                for count in run_git(
                    ["rev-list", "--left-right", "--count", f"{before}...{after}", "--"],
                    policy=self.policy,
                    remote=remote,
                    cwd=path,
                ).split()
            )
            direction: Direction
            if behind == 0:
                direction, listed, total = "forward", f"{before}..{after}", ahead
            elif ahead == 0:
                direction, listed, total = "backwards", f"{after}..{before}", behind
            else:
                status, stdout, reason = run_git_status(
                    ["merge-base", before, after], policy=self.policy, remote=remote, cwd=path
                )
                if status == 1 and not stdout.strip():
                    return CommitRange("unrelated", before, after, [], 0)
                if status != 0:
                    raise GitRemoteError(remote.url, f"history could not be compared: {reason}")
                direction, listed, total = "diverged", f"{before}..{after}", ahead
            commits = self._log(path, remote, listed, limit)
        return CommitRange(
            direction, before, after, commits, total, behind if direction == "diverged" else 0
        )

    def _both(self, path: Path, remote: RemoteUrl, old: str, new: str) -> tuple[str, str]:
        """The full SHAs of two commits: one ``rev-parse`` when the clone has both, else each
        resolved (and fetched) on its own."""
        # Both were checked to be hex (no option can hide in them); without ``--verify``,
        # rev-parse would echo an ``--end-of-options`` back.
        status, stdout, _ = run_git_status(
            [
                "rev-parse",
                f"{old.lower()}^{{commit}}",
                f"{new.lower()}^{{commit}}",
            ],
            policy=self.policy,
            remote=remote,
            cwd=path,
        )
        found = stdout.split()
        if status == 0 and len(found) == 2 and all(_FULL_SHA_RE.fullmatch(sha) for sha in found):
            return found[0], found[1]
        return self._commit(path, remote, old), self._commit(path, remote, new)

    def _log(self, path: Path, remote: RemoteUrl, revisions: str, limit: int) -> list[Commit]:
        if limit <= 0:
            return []
        output = run_git(
            [
                "log",
                "--no-show-signature",
                "--encoding=UTF-8",
                f"--max-count={limit}",
                "--format=%H%x00%an%x00%ae%x00%aI%x00%s%x1e",
                revisions,
                "--",
            ],
            policy=self.policy,
            remote=remote,
            cwd=path,
        )
        commits = []
        for record in output.split("\x1e"):
            fields = record.strip("\n").split("\x00")
            if len(fields) == 5:
                sha, author, email, date, subject = fields
                commits.append(Commit(sha, subject, author, email, _utc(date)))
        return commits

    @contextmanager
    def _locked(self, remote: RemoteUrl) -> Iterator[Path]:
        """The clone of ``remote``, made on first use, held under a lock (processes and
        threads checking the same repository wait for each other, never clone it twice)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path_for(remote.url)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.is_dir():
                self._clone(remote, path)
            yield path

    def _clone(self, remote: RemoteUrl, path: Path) -> None:
        # Into a temporary name first: a clone cut short by the timeout leaves no half clone.
        temporary = Path(tempfile.mkdtemp(prefix="clone-", dir=self.root))
        try:
            run_git(
                [
                    "clone",
                    "--bare",
                    "--quiet",
                    "--filter=blob:none",
                    "--no-hardlinks",
                    "--",
                    remote.url,
                    str(temporary / "repository.git"),
                ],
                policy=self.clone_policy,
                remote=remote,
            )
            (temporary / "repository.git").rename(path)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)

    def _commit(self, path: Path, remote: RemoteUrl, sha: str) -> str:
        """The full SHA of commit ``sha``, fetching once (refs, then the commit itself) when
        the clone does not have it yet."""
        found = self._resolve(path, remote, sha)
        if found is None:
            run_git(
                ["fetch", "--quiet", "--prune", "--filter=blob:none", "origin", *_REFSPECS],
                policy=self.policy,
                remote=remote,
                cwd=path,
            )
            found = self._resolve(path, remote, sha)
        if found is None and _FULL_SHA_RE.fullmatch(sha.lower()):
            # A commit on no branch or tag: servers answer a want for it when it is reachable.
            status, _, _ = run_git_status(
                ["fetch", "--quiet", "--filter=blob:none", "origin", sha.lower()],
                policy=self.policy,
                remote=remote,
                cwd=path,
            )
            if status == 0:
                found = self._resolve(path, remote, sha)
        if found is None:
            raise CommitNotFound(remote.url, f"commit {sha} is not in the repository")
        return found

    def _resolve(self, path: Path, remote: RemoteUrl, sha: str) -> str | None:
        status, stdout, _ = run_git_status(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{sha.lower()}^{{commit}}"],
            policy=self.policy,
            remote=remote,
            cwd=path,
            offline=True,
        )
        return stdout.strip() if status == 0 and stdout.strip() else None


def clone_cache_from_settings() -> CloneCache:
    """The cache under ``REGISTRY_GIT_CACHE_DIR`` (default: a folder in the system's temporary
    directory), first clones bounded by ``REGISTRY_GIT_CLONE_TIMEOUT``, with the policy of
    CONTRACT §5."""
    from django.conf import settings

    from .policy import policy_from_settings

    root = getattr(settings, "REGISTRY_GIT_CACHE_DIR", None) or (
        Path(tempfile.gettempdir()) / "release-registry-git-clones"
    )
    clone_timeout = getattr(settings, "REGISTRY_GIT_CLONE_TIMEOUT", None)
    return CloneCache(
        Path(root),
        policy_from_settings(),
        clone_timeout=float(clone_timeout) if clone_timeout else None,
    )
