"""Backport safety in validation runs: a pin of a stored release whose commit changes (by an
import, the API's pin edit, a model save) is checked, at the next run, to descend from the
commit it held before; against real repositories served by ``git daemon`` on 127.0.0.1."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry.git.clones import CloneCache
from releases.edits import edit_pin
from releases.models import Release, RepositoryPin
from releases.validation.runs import validate_release_now
from tests.gitserver import BareRepository, GitDaemon, RecordedGit, RepositoryFolder

from .runs_world import Pin, store

pytestmark = [pytest.mark.django_db, pytest.mark.git]


@dataclass
class Nova:
    repository: BareRepository
    base: str
    fix: str
    side: str
    fogpy: str


@pytest.fixture
def nova(repository_folder: RepositoryFolder, git_daemon: GitDaemon, settings) -> Nova:
    """openstack/nova: ``base`` -> ``fix`` on main, and ``side`` rewritten from ``base``
    (not a descendant of ``fix``); and pytroll/fogpy, which never moves."""
    prefix = uuid.uuid4().hex[:12]
    repository, _ = repository_folder.create("openstack/nova", prefix=prefix)
    base, fix = repository.commits(2)
    side = repository.commit("rewritten history", parent=base)
    repository.tag("27.0.0", base)
    repository.tag("27.0.1", fix, message="Nova 27.0.1")
    repository.tag("27.0.1-rewritten", side)
    fogpy, _ = repository_folder.create("pytroll/fogpy", prefix=prefix)
    (fogpy_commit,) = fogpy.commits(1)
    fogpy.tag("v2.6.1", fogpy_commit)
    settings.REGISTRY_GIT_URL_TEMPLATE = f"git://127.0.0.1:{git_daemon.port}/{prefix}/{{name}}.git"
    settings.REGISTRY_GIT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.REGISTRY_GIT_ALLOWED_SCHEMES = ["git"]
    settings.REGISTRY_GIT_TIMEOUT = 10
    settings.REGISTRY_PACKAGE_INDEX_URL = None
    return Nova(repository, base, fix, side, fogpy_commit)


@pytest.fixture
def clones(recorded_git: RecordedGit, tmp_path: Path) -> CloneCache:
    return CloneCache(tmp_path / "clones", recorded_git.policy(schemes=["git"]))


def pins(nova: Nova, tag: str, sha: str) -> list[Pin]:
    return [Pin("pytroll/fogpy", "v2.6.1", nova.fogpy), Pin("openstack/nova", tag, sha)]


def validate(release: Release, recorded_git: RecordedGit, clones: CloneCache):
    return validate_release_now(
        release,
        requested_by="zoë",
        policy=recorded_git.policy(schemes=["git"]),
        clones=clones,
    )


def nova_pin() -> RepositoryPin:
    return RepositoryPin.objects.get(repository__name="openstack/nova")


def codes(findings: list[dict]) -> list[str]:
    return [finding["code"] for finding in findings]


def test_a_pin_moved_forward_by_an_import_passes(nova: Nova, recorded_git, clones):
    store("1.4", pins(nova, "27.0.0", nova.base))
    release = store("1.4", pins(nova, "27.0.1", nova.fix))
    assert nova_pin().previous_commit_sha == nova.base

    run = validate(release, recorded_git, clones)

    assert run.state == "done"
    assert [result["state"] for result in run.results] == ["valid", "valid"]
    assert nova_pin().findings == []
    # Only the pin that moved needs a clone.
    assert len(recorded_git.calls("clone")) == 1


def test_a_pin_moved_sideways_by_the_api_edit_warns_with_the_pin(nova: Nova, recorded_git, clones):
    release = store("1.4", pins(nova, "27.0.1", nova.fix))
    edit_pin(
        release,
        "openstack/nova",
        {"tag": "27.0.1-rewritten", "commit_sha": nova.side},
        source="api",
    )

    run = validate(release, recorded_git, clones)

    pin = nova_pin()
    assert pin.previous_commit_sha == nova.fix
    assert pin.validation_state == "warning"
    (finding,) = pin.findings
    assert (finding["code"], finding["severity"], finding["path"]) == (
        "not-descendant",
        "warning",
        "repositories[1].commit_sha",
    )
    assert finding["message"].startswith(f"{nova.side} does not descend from {nova.fix}")
    assert run.results[1]["findings"] == pin.findings
    assert run.results[1]["state"] == "warning" and run.counts["warning"] == 1


def test_the_warning_stays_while_the_commit_does_and_goes_when_it_moves_forward(
    nova: Nova, recorded_git, clones
):
    store("1.4", pins(nova, "27.0.1", nova.fix))
    pin = nova_pin()
    pin.tag, pin.commit_sha = "27.0.1-rewritten", nova.side
    pin.save()  # the admin's path
    release = Release.objects.get()
    assert nova_pin().previous_commit_sha == nova.fix

    first = validate(release, recorded_git, clones)
    again = validate(release, recorded_git, clones)

    assert codes(first.results[1]["findings"]) == ["not-descendant"]
    assert codes(again.results[1]["findings"]) == ["not-descendant"]
    # A fix on top of the rewritten commit: forward from where the pin was.
    onward = nova.repository.commit("fix on the rewritten line", parent=nova.side)
    nova.repository.tag("27.0.2", onward)
    store("1.4", pins(nova, "27.0.2", onward))

    last = validate(release, recorded_git, clones)

    assert nova_pin().previous_commit_sha == nova.side
    assert last.results[1]["findings"] == [] and last.results[1]["state"] == "valid"


def test_one_clone_per_repository_reused_and_fetched_only_for_new_commits(
    nova: Nova, recorded_git, clones
):
    store("1.4", pins(nova, "27.0.0", nova.base))
    store("1.5", pins(nova, "27.0.0", nova.base))
    store("1.4", pins(nova, "27.0.1", nova.fix))
    store("1.5", pins(nova, "27.0.1-rewritten", nova.side))
    for version in ("1.4", "1.5"):
        validate(Release.objects.get(version=version), recorded_git, clones)
    assert len(recorded_git.calls("clone")) == 1
    fetched = len(recorded_git.calls("fetch"))
    # Both commits are in the clone now: asking again needs no network.
    validate(Release.objects.get(version="1.4"), recorded_git, clones)
    assert len(recorded_git.calls("fetch")) == fetched

    # A commit pushed since the clone was made: fetched into the same clone.
    newer = nova.repository.commit("backport", parent=nova.fix)
    nova.repository.tag("27.0.2", newer)
    store("1.4", pins(nova, "27.0.2", newer))
    run = validate(Release.objects.get(version="1.4"), recorded_git, clones)

    assert run.results[1]["state"] == "valid"
    assert len(recorded_git.calls("clone")) == 1
    assert len(recorded_git.calls("fetch")) > fetched
    assert len(list((clones.root).glob("*.git"))) == 1


def test_runs_use_the_clone_cache_of_the_settings(nova: Nova, settings, tmp_path: Path):
    settings.REGISTRY_GIT_CACHE_DIR = str(tmp_path / "cache")
    store("1.4", pins(nova, "27.0.1", nova.fix))
    release = store("1.4", pins(nova, "27.0.1-rewritten", nova.side))

    run = validate_release_now(release, requested_by="zoë")

    assert codes(run.results[1]["findings"]) == ["not-descendant"]
    assert len(list((tmp_path / "cache").glob("*.git"))) == 1


def test_a_new_pin_and_an_unchanged_commit_are_not_checked(nova: Nova, recorded_git, clones):
    release = store("1.4", pins(nova, "27.0.0", nova.base)[:1])
    store("1.4", pins(nova, "27.0.0", nova.base))  # nova added: nothing to compare with
    store("1.4", pins(nova, "27.0.0", nova.base))  # re-imported unchanged

    run = validate(release, recorded_git, clones)

    assert nova_pin().previous_commit_sha is None
    assert [result["state"] for result in run.results] == ["valid", "valid"]
    assert recorded_git.calls("clone") == []
