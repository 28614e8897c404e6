"""One bad file never blocks the others; conflicts between branches import nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from releases.exporting import export_release
from releases.gitops.models import ManifestSource
from releases.gitops.repository import ManifestsRepository
from releases.gitops.sync import sync_manifests
from releases.models import Release
from tests.gitserver import RecordedGit

from .texts import manifest_text
from .worktree import ManifestsWorkTree

pytestmark = pytest.mark.django_db

BROKEN = 'version: "1.5"\nrepositories:\n  - name: "pytroll/fogpy"\n    tag: 2.6\n'


def test_a_malformed_manifest_is_reported_with_path_branch_and_commit(
    manifests_repo: ManifestsWorkTree,
    make_repository: Callable[[], ManifestsRepository],
    recorded_git: RecordedGit,
) -> None:
    repo = manifests_repo
    repo.write("manifests/v1.4.yaml", manifest_text("1.4"))
    repo.write("manifests/v1.5.yaml", BROKEN)
    repo.write("manifests/v1.6.yaml", manifest_text("1.5"))  # holds another version
    repo.write("manifests/release-1.7.yaml", manifest_text("1.7"))  # not v<version>.yaml
    repo.write("manifests/v1.8.json", '{"version": "1.8", "repositories": [}')
    commit = repo.commit("a mixed bag")
    repo.push("main")

    report = sync_manifests(make_repository())

    assert [x.file.version for x in report.imported] == ["1.4"]
    assert export_release("1.4") == manifest_text("1.4")
    rejected = {r.path: r for r in report.rejections}
    assert set(rejected) == {
        "manifests/v1.5.yaml",
        "manifests/v1.6.yaml",
        "manifests/release-1.7.yaml",
        "manifests/v1.8.json",
    }
    assert all((r.branch, r.commit) == ("main", commit) for r in report.rejections)
    broken = rejected["manifests/v1.5.yaml"]
    assert [(e.path, e.line) for e in broken.errors] == [("repositories[0].tag", 4)]
    assert broken.lines()[0].startswith(f"main@{commit[:12]}:manifests/v1.5.yaml: ")
    assert "holds '1.5'" in rejected["manifests/v1.6.yaml"].errors[0].message
    assert "v<version>.yaml" in rejected["manifests/release-1.7.yaml"].errors[0].message
    assert not Release.objects.exclude(version="1.4").exists()

    # Unchanged, the broken files are reported again without being read again.
    reads = len(recorded_git.calls("cat-file"))
    again = sync_manifests(make_repository())
    assert len(recorded_git.calls("cat-file")) == reads
    assert {r.path for r in again.rejections} == set(rejected)
    assert again.blobs_read == 0
    remembered = {r.path: r for r in again.rejections}["manifests/v1.5.yaml"]
    assert remembered.remembered and remembered.errors == broken.errors

    # Fixed: imported, and the rejection is forgotten.
    repo.write("manifests/v1.5.yaml", manifest_text("1.5"))
    repo.remove("manifests/v1.6.yaml")
    repo.commit("fix 1.5")
    repo.push("main")
    fixed = sync_manifests(make_repository())
    assert [x.file.version for x in fixed.imported] == ["1.5"]
    assert export_release("1.5") == manifest_text("1.5")
    assert ManifestSource.objects.get(version="1.5").rejection == {}


def test_a_conflict_between_branches_imports_nothing_for_that_version(
    manifests_repo: ManifestsWorkTree, make_repository: Callable[[], ManifestsRepository]
) -> None:
    repo = manifests_repo
    repo.write("manifests/v1.3.yaml", manifest_text("1.3"))
    repo.write("manifests/v1.4.yaml", manifest_text("1.4"))
    repo.commit("1.3 and 1.4")
    repo.push("main")
    assert sync_manifests(make_repository()).ok

    # release/1.4 changes 1.3 (not its own version), and main changes it differently.
    repo.branch("release/1.4")
    repo.write("manifests/v1.3.yaml", manifest_text("1.3", patch=7, note="on 1.4"))
    on_release = repo.commit("1.3 fix on the wrong branch")
    repo.branch("main")
    repo.write("manifests/v1.3.yaml", manifest_text("1.3", patch=1))
    on_main = repo.commit("1.3 patch")
    repo.push()

    report = sync_manifests(make_repository())
    assert [(c.version, [(f.branch, f.commit) for f in c.files]) for c in report.conflicts] == [
        ("1.3", [("main", on_main), ("release/1.4", on_release)])
    ]
    assert on_main in report.conflicts[0].line() and on_release in report.conflicts[0].line()
    assert not report.ok
    assert export_release("1.3") == manifest_text("1.3")  # as before
    assert report.imported == []

    # The same content on both: no conflict any more.
    repo.branch("release/1.4")
    repo.write("manifests/v1.3.yaml", manifest_text("1.3", patch=1))
    repo.commit("align 1.3 with main")
    repo.push()
    report = sync_manifests(make_repository())
    assert report.ok
    assert [(x.file.version, x.file.branch) for x in report.imported] == [("1.3", "main")]


def test_the_same_version_twice_on_one_branch_is_a_conflict(
    manifests_repo: ManifestsWorkTree, make_repository: Callable[[], ManifestsRepository]
) -> None:
    manifests_repo.write("manifests/v2.0.yaml", manifest_text("2.0"))
    manifests_repo.write("manifests/v2.0.json", '{"version": "2.0"}')
    manifests_repo.commit()
    manifests_repo.push("main")
    report = sync_manifests(make_repository())
    assert [c.version for c in report.conflicts] == ["2.0"]
    assert report.blobs_read == 0
    assert not Release.objects.exists()


def test_an_oversized_file_is_refused_from_the_tree_without_being_read(
    manifests_repo: ManifestsWorkTree,
    make_repository: Callable[[], ManifestsRepository],
    recorded_git: RecordedGit,
) -> None:
    small, large = manifest_text("1.4", pins=2), manifest_text("1.5", pins=200)
    manifests_repo.write("manifests/v1.4.yaml", small)
    manifests_repo.write("manifests/v1.5.yaml", large)
    manifests_repo.write("manifests/v1.6\x1b[31m.yaml", small)  # a name that colours a terminal
    manifests_repo.commit()
    manifests_repo.push("main")
    limit = len(small.encode()) + 100

    report = sync_manifests(make_repository(), max_bytes=limit)

    assert report.blobs_read == 1
    rejected = {r.path: r.errors[0] for r in report.rejections}
    assert rejected["manifests/v1.5.yaml"].code == "too-large"
    assert f"{len(large.encode())} bytes is over the limit of {limit}" in (
        rejected["manifests/v1.5.yaml"].message
    )
    # Printed escaped, never as the control sequence itself.
    assert "manifests/v1.6\\x1b[31m.yaml" in rejected
    assert [x.file.version for x in report.imported] == ["1.4"]
