"""Backport branches, credentials over smart HTTP, and the branch patterns."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest

from releases.exporting import export_release
from releases.gitops.models import ManifestSource
from releases.gitops.repository import ManifestsRepository, matching_branches
from releases.gitops.sync import owning_branch, sync_manifests
from tests.gitserver import GitHttpServer, RecordedGit, RepositoryFolder

from .texts import manifest_text
from .worktree import ManifestsWorkTree

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("version", "branch"),
    [
        ("1.4", "release/1.4"),
        ("1.4.2", "release/1.4"),
        ("10.12.0-rc1", "release/10.12"),
        ("2", None),
        ("2025-q1", None),
    ],
)
def test_the_branch_a_version_belongs_to(version: str, branch: str | None) -> None:
    assert owning_branch(version) == branch


def test_branch_patterns() -> None:
    heads = ["main", "release/1.4", "release/2.0", "feature/x", "mainline"]
    assert matching_branches(heads, ["main", "release/*"]) == ["main", "release/1.4", "release/2.0"]
    assert matching_branches(heads, [" main ", ""]) == ["main"]


def test_a_backport_branch_wins_until_it_is_deleted(
    manifests_repo: ManifestsWorkTree, make_repository: Callable[[], ManifestsRepository]
) -> None:
    repo = manifests_repo
    repo.write("manifests/v1.4.2.yaml", manifest_text("1.4.2"))
    repo.commit("1.4.2 on main")
    repo.branch("release/1.4")
    backport = manifest_text("1.4.2", patch=9, note="backport")
    repo.write("manifests/v1.4.2.yaml", backport)
    on_release = repo.commit("1.4.2 backport")
    repo.branch("main")
    main_text = manifest_text("1.4.2", patch=3)
    repo.write("manifests/v1.4.2.yaml", main_text)
    repo.commit("1.4.2 changed on main too")
    repo.push()

    # Both branches changed the file: the backport branch owns the version, no conflict.
    report = sync_manifests(make_repository())
    assert report.ok, report.as_dict()
    assert [(x.file.branch, x.file.commit) for x in report.imported] == [
        ("release/1.4", on_release)
    ]
    assert export_release("1.4.2") == backport

    # The backport branch is deleted: main's file is the version's again.
    repo.delete_branch("release/1.4")
    report = sync_manifests(make_repository())
    assert [(x.file.branch, x.action) for x in report.imported] == [("main", "updated")]
    assert export_release("1.4.2") == main_text
    assert ManifestSource.objects.get(version="1.4.2").branch == "main"


def test_credentials_travel_in_a_header_never_on_a_command_line(
    tmp_path: Path,
    repository_folder: RepositoryFolder,
    git_http: GitHttpServer,
    recorded_git: RecordedGit,
) -> None:
    bare, relative = repository_folder.create("platform/release-orchestrator")
    work = ManifestsWorkTree(tmp_path / "work", bare.path, git_http.url(relative))
    work.write("manifests/v1.4.yaml", manifest_text("1.4"))
    work.commit()
    work.push("main")
    token = "glpat-Zq8sV3nT0kLm2Xw7Yb4R"
    policy = recorded_git.policy(credentials={"127.0.0.1": f"oauth2:{token}"})
    git_http.snapshot_processes = True

    for _ in range(2):  # the clone, then a fetch
        report = sync_manifests(ManifestsRepository(work.url, policy, tmp_path / "clones"))
        assert report.ok

    expected = "Basic " + base64.b64encode(f"oauth2:{token}".encode()).decode()
    assert git_http.requests
    assert {request.authorization for request in git_http.requests} == {expected}
    assert not any(token in line for r in git_http.requests for line in r.command_lines)
    assert not any(token in line for line in recorded_git.calls())
    assert export_release("1.4") == manifest_text("1.4")
