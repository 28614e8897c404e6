"""The sync on a real repository: add, modify, backport and delete manifests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from releases import changes
from releases.exporting import export_release
from releases.gitops.models import ManifestSource
from releases.gitops.repository import ManifestsRepository
from releases.gitops.sync import SyncReport, sync_manifests
from releases.models import EnvironmentDeployment, PinDependency, Release, RepositoryPin
from tests.gitserver import RecordedGit

from .texts import manifest_text
from .worktree import ManifestsWorkTree

pytestmark = pytest.mark.django_db

HISTORY_MODELS = (Release, RepositoryPin, PinDependency, EnvironmentDeployment)


def history_rows() -> dict[str, int]:
    return {model.__name__: model.history.model.objects.count() for model in HISTORY_MODELS}


def sync(make_repository: Callable[[], ManifestsRepository], **options: object) -> SyncReport:
    return sync_manifests(make_repository(), **options)  # type: ignore[arg-type]


def assert_matches(work: ManifestsWorkTree, versions: dict[str, str]) -> None:
    """The registry holds exactly these files' releases, byte for byte."""
    for version, text in versions.items():
        assert export_release(version) == text


def test_add_modify_backport_delete(
    manifests_repo: ManifestsWorkTree,
    make_repository: Callable[[], ManifestsRepository],
    recorded_git: RecordedGit,
) -> None:
    repo = manifests_repo
    texts = {v: manifest_text(v) for v in ("1.2", "1.3", "1.4")}
    for version, text in texts.items():
        repo.write(f"manifests/v{version}.yaml", text)
    repo.write("manifests/README.md", "The IaC pipeline reads these.\n")
    first = repo.commit("three releases")
    repo.push("main")

    report = sync(make_repository)
    assert report.ok, report.as_dict()
    assert report.counts()["created"] == 3
    assert_matches(repo, texts)
    source = ManifestSource.objects.get(version="1.4")
    assert (source.branch, source.commit, source.path) == ("main", first, "manifests/v1.4.yaml")
    assert source.release == Release.objects.get(version="1.4")
    assert source.repository_url == repo.url
    release = Release.objects.get(version="1.4")
    assert release.source == f"git main@{first[:12]}:manifests/v1.4.yaml"
    reason = f"imported from git main@{first[:12]}:manifests/v1.4.yaml"
    assert release.history.first().history_change_reason == reason

    # Nothing new: nothing imported, no history row, no blob read.
    before = history_rows()
    reads = len(recorded_git.calls("cat-file"))
    again = sync(make_repository)
    assert again.counts() == {
        "created": 0,
        "updated": 0,
        "unchanged": 3,
        "rejected": 0,
        "conflicts": 0,
        "removed": 0,
        "edited_in_registry": 0,
        "read": 0,
    }
    assert history_rows() == before
    assert len(recorded_git.calls("cat-file")) == reads

    # Modify 1.3 on main: only that file is read and imported.
    texts["1.3"] = manifest_text("1.3", patch=1)
    repo.write("manifests/v1.3.yaml", texts["1.3"])
    second = repo.commit("1.3: patch release")
    repo.push("main")
    report = sync(make_repository)
    assert [(x.file.version, x.action) for x in report.imported] == [("1.3", "updated")]
    assert report.blobs_read == 1
    assert_matches(repo, texts)
    assert Release.objects.get(version="1.3").source == (
        f"git main@{second[:12]}:manifests/v1.3.yaml"
    )

    # Backport: release/1.4 changes v1.4.yaml; main keeps its older copy.
    repo.branch("release/1.4")
    texts["1.4"] = manifest_text("1.4", patch=1, note="backport")
    repo.write("manifests/v1.4.yaml", texts["1.4"])
    backport = repo.commit("1.4: backport fix")
    repo.push("release/1.4")
    report = sync(make_repository)
    assert report.ok, report.as_dict()
    assert [(x.file.version, x.file.branch, x.action) for x in report.imported] == [
        ("1.4", "release/1.4", "updated")
    ]
    assert_matches(repo, texts)
    source = ManifestSource.objects.get(version="1.4")
    assert (source.branch, source.commit) == ("release/1.4", backport)

    # main moves on (1.3 changes again): release/1.4's inherited old v1.3 is no conflict.
    repo.branch("main")
    texts["1.3"] = manifest_text("1.3", patch=2)
    repo.write("manifests/v1.3.yaml", texts["1.3"])
    repo.commit("1.3: another patch")
    repo.push("main")
    report = sync(make_repository)
    assert report.ok, report.as_dict()
    assert [(x.file.version, x.file.branch) for x in report.imported] == [("1.3", "main")]
    assert_matches(repo, texts)

    # Delete 1.2 from main: reported, kept in the registry.
    repo.remove("manifests/v1.2.yaml")
    repo.commit("drop 1.2")
    repo.push("main")
    report = sync(make_repository)
    assert [(r.version, r.path) for r in report.removed] == [("1.2", "manifests/v1.2.yaml")]
    assert Release.objects.filter(version="1.2").exists()
    assert report.counts()["read"] == 0


def test_a_release_changed_in_the_registry_is_reported_not_overwritten(
    manifests_repo: ManifestsWorkTree, make_repository: Callable[[], ManifestsRepository]
) -> None:
    manifests_repo.write("manifests/v1.4.yaml", manifest_text("1.4"))
    commit = manifests_repo.commit()
    manifests_repo.push("main")
    assert sync(make_repository).ok
    assert sync(make_repository).edited == []

    with changes.batch(changes.ADMIN):
        release = Release.objects.get(version="1.4")
        release.notes = "edited in the admin"
        release.save()

    report = sync(make_repository)
    assert [(e.version, e.commit) for e in report.edited] == [("1.4", commit)]
    assert report.edited[0].line().startswith(f"main@{commit[:12]}:manifests/v1.4.yaml: 1.4 ")
    assert report.imported == []
    assert Release.objects.get(version="1.4").notes == "edited in the admin"

    # The file changes: imported again, and the mirror is in step.
    manifests_repo.write("manifests/v1.4.yaml", manifest_text("1.4", patch=1))
    manifests_repo.commit()
    manifests_repo.push("main")
    report = sync(make_repository)
    assert [x.action for x in report.imported] == ["updated"]
    assert export_release("1.4") == manifest_text("1.4", patch=1)
    assert sync(make_repository).edited == []
