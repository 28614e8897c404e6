"""A real IaC repository of manifests, served by ``git daemon`` on 127.0.0.1.

:class:`ManifestsWorkTree` edits a working copy (write, remove, commit, branch) and pushes
to the served bare repository, as a team's merges would; the registry syncs from the
``git://`` URL through a recording ``git`` (tests/gitserver.py), so tests can count the
commands a sync ran.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from releases.gitops.repository import ManifestsRepository
from tests.gitserver import BUILD_ENVIRONMENT, GIT, GitDaemon, RecordedGit, RepositoryFolder


class ManifestsWorkTree:
    """A working copy of the IaC repository; ``push()`` publishes branches to ``remote``."""

    def __init__(self, work: Path, remote: Path, url: str) -> None:
        self.work = work
        self.remote = remote
        self.url = url
        self._counter = 0
        work.mkdir(parents=True)
        self.git("init", "--quiet", "--initial-branch=main")

    def git(self, *args: str) -> str:
        result = subprocess.run(
            [GIT, "-C", str(self.work), *args],
            env=BUILD_ENVIRONMENT,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def write(self, path: str, text: str) -> None:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def remove(self, path: str) -> None:
        self.git("rm", "--quiet", "--", path)

    def commit(self, message: str | None = None) -> str:
        self._counter += 1
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message or f"change {self._counter}")
        return self.git("rev-parse", "HEAD")

    def branch(self, name: str, start: str = "main") -> None:
        """Switch to branch ``name``, created from ``start`` if it does not exist yet."""
        existing = self.git("branch", "--list", name)
        if existing:
            self.git("checkout", "--quiet", name)
        else:
            self.git("checkout", "--quiet", "-b", name, start)

    def push(self, *branches: str) -> None:
        names = branches or tuple(
            self.git("for-each-ref", "--format=%(refname:short)", "refs/heads/").split()
        )
        self.git("push", "--quiet", "--force", str(self.remote), *[f"{b}:{b}" for b in names])

    def delete_branch(self, name: str) -> None:
        self.git("push", "--quiet", str(self.remote), f":{name}")

    def head(self, branch: str = "HEAD") -> str:
        return self.git("rev-parse", branch)


@pytest.fixture
def manifests_repo(
    tmp_path: Path, repository_folder: RepositoryFolder, git_daemon: GitDaemon
) -> ManifestsWorkTree:
    bare, relative = repository_folder.create("platform/release-orchestrator")
    return ManifestsWorkTree(tmp_path / "work", bare.path, git_daemon.url(relative))


@pytest.fixture
def clone_root(tmp_path: Path) -> Path:
    return tmp_path / "clones"


@pytest.fixture
def make_repository(
    manifests_repo: ManifestsWorkTree, recorded_git: RecordedGit, clone_root: Path
) -> Callable[[], ManifestsRepository]:
    """A fresh :class:`ManifestsRepository` on the served repository (each sync makes its
    own, as each task run does); the clone folder is shared."""

    def make() -> ManifestsRepository:
        return ManifestsRepository(manifests_repo.url, recorded_git.policy(), clone_root)

    return make
