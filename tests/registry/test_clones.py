"""Backport safety from one cached blobless clone per repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.git.clones import CloneCache
from registry.git.errors import CommitNotFound, RemoteRefused, RemoteUnreachable
from tests.gitserver import BareRepository, GitDaemon, RecordedGit, RepositoryFolder, free_port

pytestmark = pytest.mark.git


@pytest.fixture
def history(repository_folder: RepositoryFolder, git_daemon: GitDaemon):
    """main: a - b - c, and a branch from a: x (released on a tag only)."""
    repo, relative = repository_folder.create("org/backports")
    a, b, c = repo.commits(3)
    x = repo.commit("hotfix on the side", parent=a)
    repo.tag("v1.0.1-side", x)
    repo.git("update-ref", "refs/heads/main", c)
    repo.head = c
    return repo, git_daemon.url(relative), {"a": a, "b": b, "c": c, "x": x}


def test_descendants_and_non_descendants(history, recorded_git: RecordedGit, tmp_path: Path):
    _, url, sha = history
    clones = CloneCache(tmp_path / "cache", recorded_git.policy())

    assert clones.is_descendant(url, sha["a"], sha["c"]) is True
    assert clones.is_descendant(url, sha["b"], sha["b"]) is True
    assert clones.is_descendant(url, sha["c"], sha["a"]) is False
    assert clones.is_descendant(url, sha["b"], sha["x"]) is False
    assert clones.is_descendant(url, sha["a"][:7], sha["x"][:12].upper()) is True


def test_one_blobless_clone_then_fetches_only_for_unknown_commits(
    history, recorded_git: RecordedGit, tmp_path: Path
):
    repo, url, sha = history
    clones = CloneCache(tmp_path / "cache", recorded_git.policy())

    clones.is_descendant(url, sha["a"], sha["c"])
    clones.is_descendant(url, sha["b"], sha["c"])
    assert len(recorded_git.calls("clone")) == 1
    assert "--filter=blob:none" in recorded_git.calls("clone")[0]
    assert recorded_git.calls("fetch") == []

    # A commit pushed since: an abbreviated SHA needs the refs fetched again, once.
    d = repo.commit()
    assert clones.is_descendant(url, sha["c"], d[:10]) is True
    assert len(recorded_git.calls("fetch")) == 1
    # A full SHA git fetches by itself, from the clone's promisor remote, in the same
    # hardened environment; never a second clone.
    e = repo.commit()
    assert clones.is_descendant(url, d, e) is True
    assert clones.is_descendant(url, e, sha["x"]) is False
    assert len(recorded_git.calls("clone")) == 1
    clone = clones.path_for(url)
    # Bare and partial: the promisor remote's filter is recorded, no file contents were fetched.
    config = BareRepository.__new__(BareRepository)
    config.path = clone
    assert config.git("config", "remote.origin.partialclonefilter") == "blob:none"
    assert config.git("rev-parse", "--is-bare-repository") == "true"
    missing = config.git("rev-list", "--objects", "--missing=print", "--all")
    assert any(line.startswith("?") for line in missing.splitlines())


def test_an_unknown_commit_is_reported_not_guessed(
    history, recorded_git: RecordedGit, tmp_path: Path
):
    _, url, sha = history
    clones = CloneCache(tmp_path / "cache", recorded_git.policy())

    with pytest.raises(CommitNotFound, match="is not in the repository"):
        clones.is_descendant(url, sha["a"], "0" * 40)
    with pytest.raises(CommitNotFound, match="is not a commit SHA"):
        clones.is_descendant(url, sha["a"], "--output=/tmp/x")


def test_refused_and_unreachable_remotes(recorded_git: RecordedGit, tmp_path: Path):
    clones = CloneCache(tmp_path / "cache", recorded_git.policy())

    with pytest.raises(RemoteRefused):
        clones.is_descendant("file:///srv/repo.git", "a" * 40, "b" * 40)
    assert recorded_git.calls() == []
    with pytest.raises(RemoteUnreachable):
        clones.is_descendant(f"git://127.0.0.1:{free_port()}/org/x.git", "a" * 40, "b" * 40)
    # A failed first clone leaves nothing behind to be mistaken for a clone later.
    assert [path.suffix for path in (tmp_path / "cache").iterdir()] == [".lock"]


def test_commits_between_from_one_clone_fetched_only_for_new_commits(
    history, recorded_git: RecordedGit, tmp_path: Path
):
    repo, url, sha = history
    clones = CloneCache(tmp_path / "cache", recorded_git.policy())

    forward = clones.commits_between(url, sha["a"][:9], sha["c"], limit=1)
    assert (forward.direction, forward.total, forward.old) == ("forward", 2, sha["a"])
    assert [commit.sha for commit in forward.commits] == [sha["c"]]
    backwards = clones.commits_between(url, sha["c"], sha["a"], limit=10)
    assert backwards.direction == "backwards"
    assert [commit.sha for commit in backwards.commits] == [sha["c"], sha["b"]]
    side = clones.commits_between(url, sha["c"], sha["x"], limit=10)
    assert (side.direction, side.total, side.left_behind) == ("diverged", 1, 2)
    assert side.commits[0].subject == "hotfix on the side"
    assert len(recorded_git.calls("clone")) == 1 and recorded_git.calls("fetch") == []

    # A commit pushed since, abbreviated: the refs are fetched again, once.
    newest = repo.commit("after the clone")
    later = clones.commits_between(url, sha["c"], newest[:10], limit=10)

    assert (later.direction, later.total, later.new) == ("forward", 1, newest)
    assert len(recorded_git.calls("clone")) == 1 and len(recorded_git.calls("fetch")) == 1
