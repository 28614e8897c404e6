"""The IaC repository's manifests, read from a cached bare clone.

The clone is a plain bare mirror of the branches (manifests are small text files, so a full
clone costs little and a fetch brings each new blob with its commit: no lazy fetch per file
later). Every git call runs under the hardened environment of :mod:`registry.git.remote`
(checked URL, empty ``HOME``, no system or global config, credentials through
``GIT_CONFIG_*``, the policy's timeout); the URL is checked against the policy before each
fetch. Trees are read with ``git ls-tree`` and the blobs of changed files with one
``git cat-file --batch``; nothing else reads file content.
"""

from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from registry.git.errors import GitRemoteError, RemoteTimeout
from registry.git.policy import GitPolicy
from registry.git.remote import empty_home, git_environment, run_git, run_git_status
from registry.git.urls import RemoteUrl, checked_url

from ..manifests.files import escape_text

_BRANCH_PREFIX = "refs/heads/"
_REFSPEC = "+refs/heads/*:refs/heads/*"
_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class TreeEntry:
    """One file of the manifests folder at a commit."""

    path: str
    blob: str
    mode: str
    #: Bytes, from the tree listing (``None`` for a folder or a submodule).
    size: int | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def is_file(self) -> bool:
        return self.mode in ("100644", "100755")


def matching_branches(branches: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The branch names matching any of ``patterns`` (fnmatch, case-sensitive), sorted."""
    wanted = [p.strip() for p in patterns if p.strip()]
    return sorted(b for b in branches if any(fnmatch.fnmatchcase(b, p) for p in wanted))


class ManifestsRepository:
    """The cached bare clone of one repository URL under ``root``.

    ``calls`` counts the git commands run per subcommand (``cat-file``, ``ls-tree``, ...),
    so a caller can show what a sync read.
    """

    def __init__(
        self, url: str, policy: GitPolicy, root: Path, *, clone_timeout: float | None = None
    ) -> None:
        self.remote: RemoteUrl = checked_url(url, policy)
        self.policy = policy
        self.clone_policy = replace(policy, timeout=clone_timeout or policy.timeout * 10)
        self.root = Path(root)
        self.path = self.root / (hashlib.sha256(url.encode()).hexdigest()[:32] + ".git")
        self.calls: dict[str, int] = {}

    # --- the network ----------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[ManifestsRepository]:
        """Hold the clone (other processes syncing the same URL wait) for a whole sync."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield self

    def fetch(self) -> dict[str, str]:
        """Clone (first time) or fetch every branch; returns ``{branch: commit}``.

        Raises :class:`~registry.git.errors.GitRemoteError` subclasses with safe messages.
        """
        if not self.path.is_dir():
            self._clone()
        else:
            # The URL checked above, not the clone's stored one.
            self._git(["fetch", "--quiet", "--prune", "--no-tags", "--", self.remote.url, _REFSPEC])
        return self.branches()

    def _clone(self) -> None:
        # Into a temporary name first: a clone cut short by the timeout leaves no half clone.
        temporary = Path(tempfile.mkdtemp(prefix="clone-", dir=self.root))
        try:
            self.calls["clone"] = self.calls.get("clone", 0) + 1
            run_git(
                [
                    "clone",
                    "--bare",
                    "--quiet",
                    "--no-tags",
                    "--no-hardlinks",
                    "--",
                    self.remote.url,
                    str(temporary / "repository.git"),
                ],
                policy=self.clone_policy,
                remote=self.remote,
            )
            (temporary / "repository.git").rename(self.path)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)

    # --- local reads ----------------------------------------------------------------------

    def branches(self) -> dict[str, str]:
        """``{branch: commit}`` of the clone (as of the last fetch)."""
        output = self._git(["for-each-ref", "--format=%(objectname) %(refname)", _BRANCH_PREFIX])
        found = {}
        for line in output.splitlines():
            sha, _, ref = line.partition(" ")
            if _SHA_RE.fullmatch(sha) and ref.startswith(_BRANCH_PREFIX):
                found[ref[len(_BRANCH_PREFIX) :]] = sha
        return found

    def folder(self, commit: str, folder: str) -> list[TreeEntry]:
        """The entries directly inside ``folder`` at ``commit`` with their sizes (no content
        read); ``[]`` when the folder does not exist there. Paths are made printable
        (:func:`~releases.manifests.files.escape_text`): a name may hold any character."""
        output = self._git(
            ["ls-tree", "-l", "-z", "--full-tree", commit, "--", folder.strip("/") + "/"]
        )
        entries = []
        for record in output.split("\0"):
            if not record:
                continue
            meta, _, path = record.partition("\t")
            mode, _kind, blob, size = meta.split()
            entries.append(
                TreeEntry(
                    path=escape_text(path),
                    blob=blob,
                    mode=mode,
                    size=int(size) if size.isdigit() else None,
                )
            )
        return entries

    def merge_base(self, first: str, second: str) -> str | None:
        """The best common ancestor of two commits, ``None`` when they share no history."""
        status, output, _ = self._git_status(["merge-base", first, second])
        sha = output.strip()
        return sha if status == 0 and _SHA_RE.fullmatch(sha) else None

    def blobs(self, shas: Sequence[str]) -> dict[str, bytes]:
        """The content of each blob, from one ``git cat-file --batch``."""
        wanted = list(dict.fromkeys(shas))
        if not wanted:
            return {}
        for sha in wanted:
            if not _SHA_RE.fullmatch(sha):
                raise ValueError(f"{sha[:80]!r} is not a blob SHA")
        output = self._git_bytes(["cat-file", "--batch"], ("\n".join(wanted) + "\n").encode())
        found: dict[str, bytes] = {}
        position = 0
        for sha in wanted:
            end = output.index(b"\n", position)
            header = output[position:end].decode("ascii", "replace").split(" ")
            position = end + 1
            if len(header) != 3 or header[1] != "blob":
                raise GitRemoteError(self.remote.url, f"blob {sha} is not in the clone")
            size = int(header[2])
            found[sha] = output[position : position + size]
            position += size + 1  # the content is followed by a newline
        return found

    # --- running git ----------------------------------------------------------------------

    def _count(self, args: Sequence[str]) -> None:
        self.calls[args[0]] = self.calls.get(args[0], 0) + 1

    def _git(self, args: Sequence[str]) -> str:
        self._count(args)
        return run_git(args, policy=self.policy, remote=self.remote, cwd=self.path)

    def _git_status(self, args: Sequence[str]) -> tuple[int, str, str]:
        self._count(args)
        return run_git_status(args, policy=self.policy, remote=self.remote, cwd=self.path)

    def _git_bytes(self, args: Sequence[str], stdin: bytes) -> bytes:
        """A local command fed ``stdin`` (``cat-file --batch``), under the same hardened
        environment and timeout as every other git call."""
        self._count(args)
        environment = git_environment(self.policy, self.remote, empty_home())
        try:
            result = subprocess.run(
                [self.policy.git_path(), *args],
                cwd=self.path,
                env=environment,
                input=stdin,
                capture_output=True,
                timeout=self.policy.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RemoteTimeout(
                self.remote.url, f"reading the clone took over {self.policy.timeout:g} seconds"
            ) from None
        if result.returncode != 0:
            raise GitRemoteError(self.remote.url, f"git {args[0]} failed reading the clone")
        return result.stdout


def repository_from_settings(url: str | None = None) -> ManifestsRepository:
    """The clone of ``url`` (default ``REGISTRY_MANIFESTS_REPO_URL``) under
    ``REGISTRY_GIT_CACHE_DIR``/manifests with the policy of CONTRACT §5."""
    from django.conf import settings

    from registry.git.policy import policy_from_settings

    url = url or settings.REGISTRY_MANIFESTS_REPO_URL
    if not url:
        raise ValueError("REGISTRY_MANIFESTS_REPO_URL is not set")
    root = getattr(settings, "REGISTRY_GIT_CACHE_DIR", None) or (
        Path(tempfile.gettempdir()) / "release-registry-git-clones"
    )
    clone_timeout = getattr(settings, "REGISTRY_GIT_CLONE_TIMEOUT", None)
    return ManifestsRepository(
        url,
        policy_from_settings(),
        Path(root) / "manifests",
        clone_timeout=float(clone_timeout) if clone_timeout else None,
    )
