"""A folder of 300 manifests syncs in one run, in a number of queries per file that does not
depend on the pins; a sync with nothing new reads no blob and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from releases.exporting import export_release
from releases.gitops.repository import ManifestsRepository
from releases.gitops.sync import sync_manifests
from releases.models import Release, RepositoryPin
from tests.gitserver import RecordedGit

from .texts import manifest_text
from .worktree import ManifestsWorkTree

pytestmark = pytest.mark.django_db

FILES = 300
PINS = 30
# Queries of one file's import (its transaction, lock, catalogue, bulk writes, history, the
# change hook, the source record and its revision): about 24, whatever the number of pins;
# one more for the promotion gate (the policies of the environments the file brings live).
PER_FILE = 29


def versions(count: int) -> list[str]:
    return [f"{major}.{minor}" for major in range(1, 100) for minor in range(10)][:count]


def test_300_files_in_one_run(
    manifests_repo: ManifestsWorkTree,
    make_repository: Callable[[], ManifestsRepository],
    recorded_git: RecordedGit,
    django_assert_max_num_queries: Any,
) -> None:
    for version in versions(FILES):
        # More pins than the per-file query budget: a query per pin would not fit.
        manifests_repo.write(f"manifests/v{version}.yaml", manifest_text(version, pins=PINS))
    manifests_repo.commit("three hundred releases")
    manifests_repo.push("main")

    with django_assert_max_num_queries(FILES * PER_FILE):
        report = sync_manifests(make_repository())
    assert report.ok
    assert report.counts()["created"] == FILES
    assert RepositoryPin.objects.count() == FILES * PINS
    assert len(recorded_git.calls("cat-file")) == 1  # every blob in one batch
    assert export_release("4.5") == manifest_text("4.5", pins=PINS)

    # Nothing new: the tree only, a handful of queries, no blob, no write.
    calls = len(recorded_git.calls())
    revisions = list(Release.objects.values_list("revision", flat=True))
    with django_assert_max_num_queries(2):
        again = sync_manifests(make_repository())
    assert again.counts()["unchanged"] == FILES
    assert again.blobs_read == 0
    new_calls = recorded_git.calls()[calls:]
    assert sorted(line.split(" ", 1)[0] for line in new_calls) == [
        "fetch",
        "for-each-ref",
        "ls-tree",
    ]
    assert list(Release.objects.values_list("revision", flat=True)) == revisions
