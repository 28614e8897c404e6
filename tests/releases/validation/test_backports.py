"""Backport safety as a finding: a pin that moves must move forward."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.git.clones import CloneCache
from releases.validation.checks import PinToCheck
from releases.validation.online import backport_findings
from tests.gitserver import GitDaemon, RecordedGit, RepositoryFolder, free_port

pytestmark = pytest.mark.git


@pytest.fixture
def clones(recorded_git: RecordedGit, tmp_path: Path) -> CloneCache:
    return CloneCache(tmp_path / "clones", recorded_git.policy())


@pytest.fixture
def nova(repository_folder: RepositoryFolder, git_daemon: GitDaemon):
    repo, relative = repository_folder.create("openstack/nova")
    base, fix = repo.commits(2)
    side = repo.commit("rewritten history", parent=base)
    repo.tag("27.0.1", fix)
    repo.tag("27.0.1-rewritten", side)
    return git_daemon.url(relative), base, fix, side


def moved(url: str, sha: str) -> PinToCheck:
    return PinToCheck(index=7, name="openstack/nova", tag="27.0.1", commit_sha=sha, url=url)


def test_a_pin_moved_forward_has_no_finding(nova, clones: CloneCache):
    url, base, fix, _ = nova

    assert backport_findings(moved(url, fix), base, clones) == []
    assert backport_findings(moved(url, fix[:7]), base[:9], clones) == []


def test_a_pin_moved_sideways_gets_a_not_descendant_warning(nova, clones: CloneCache):
    url, _, fix, side = nova

    (finding,) = backport_findings(moved(url, side), fix, clones)

    assert (finding.code, finding.severity, finding.path) == (
        "not-descendant",
        "warning",
        "repositories[7].commit_sha",
    )
    assert finding.message.startswith(f"{side} does not descend from {fix}")


def test_unknown_commits_and_unreachable_remotes_say_the_check_was_not_made(
    nova, clones: CloneCache, recorded_git: RecordedGit
):
    url, base, _, _ = nova

    (unknown,) = backport_findings(moved(url, "e" * 40), base, clones)
    (unreachable,) = backport_findings(
        moved(f"git://127.0.0.1:{free_port()}/openstack/nova.git", "e" * 40), base, clones
    )
    refused = backport_findings(moved("file:///srv/nova.git", "e" * 40), base, clones)

    assert (unknown.code, unknown.severity) == ("ancestry-unknown", "warning")
    assert "is not in the repository" in unknown.message
    assert unreachable.code == "ancestry-unknown" and "unreachable" in unreachable.message
    assert refused == []
    assert not [call for call in recorded_git.calls() if "file://" in call]
