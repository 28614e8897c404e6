"""Two imports of the same new release at once: one wins, the other fails cleanly."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from django.db import connection, transaction

from releases.exporting import export_release
from releases.importing import import_manifests
from releases.manifests import Manifest, ManifestRejected, dump_manifest, parse_manifest
from releases.models import Release, RepositoryPin

from .manifests import RELEASE_1_4


def waiting_on_a_lock() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        (count,) = cursor.fetchone()
    return bool(count)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_second_of_two_concurrent_imports_is_refused_and_writes_nothing():
    manifest = parse_manifest(RELEASE_1_4, source="a.yaml")
    first_has_written = threading.Event()
    let_first_commit = threading.Event()
    outcome: dict[str, object] = {}

    def first() -> None:
        def hold(_result: object) -> None:
            first_has_written.set()
            let_first_commit.wait(timeout=30)

        try:
            import_manifests([("pipeline-a/v1.4.yaml", manifest)], progress=hold)
            outcome["first"] = "ok"
        finally:
            connection.close()

    def second() -> None:
        first_has_written.wait(timeout=30)
        try:
            import_manifests([("pipeline-b/v1.4.yaml", manifest)])
            outcome["second"] = "ok"
        except ManifestRejected as exc:
            outcome["second"] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_has_written.wait(timeout=30)
    # Let the first commit only once the second is stuck behind its uncommitted release row.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not waiting_on_a_lock():
        time.sleep(0.05)
    let_first_commit.set()
    for thread in threads:
        thread.join(timeout=30)

    assert outcome["first"] == "ok"
    rejected = outcome["second"]
    assert isinstance(rejected, ManifestRejected)
    assert rejected.source == "pipeline-b/v1.4.yaml"
    assert rejected.errors[0].code == "conflict"
    assert "nothing was written" in rejected.errors[0].message
    assert Release.objects.get().source == "pipeline-a/v1.4.yaml"
    assert RepositoryPin.objects.count() == 3
    assert set(RepositoryPin.history.values_list("history_change_reason", flat=True)) == {
        "imported from pipeline-a/v1.4.yaml"
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_updates_of_a_stored_release_end_as_the_second_file_says():
    import_manifests([("v1.4.yaml", parse_manifest(RELEASE_1_4))])
    tags_v2 = parse_manifest(RELEASE_1_4.replace('tag: "v', 'tag: "v9.'), source="a.yaml")
    without_chempipe = replace(
        parse_manifest(RELEASE_1_4, source="b.yaml"),
        repositories=parse_manifest(RELEASE_1_4).repositories[:2],
    )
    first_has_written = threading.Event()
    let_first_commit = threading.Event()
    outcome: dict[str, object] = {}

    def run(name: str, manifest: Manifest, hold: bool) -> None:
        def wait(_result: object) -> None:
            first_has_written.set()
            let_first_commit.wait(timeout=30)

        try:
            (result,) = import_manifests([(name, manifest)], progress=wait if hold else None)
            outcome[name] = result.action
        finally:
            connection.close()

    first = threading.Thread(target=run, args=("pipeline-a/v1.4.yaml", tags_v2, True))
    second = threading.Thread(target=run, args=("pipeline-b/v1.4.yaml", without_chempipe, False))
    first.start()
    first_has_written.wait(timeout=30)
    second.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not waiting_on_a_lock():
        time.sleep(0.05)
    let_first_commit.set()
    first.join(timeout=30)
    second.join(timeout=30)

    assert outcome == {"pipeline-a/v1.4.yaml": "updated", "pipeline-b/v1.4.yaml": "updated"}
    # The second import read what the first wrote: the end state is exactly the second file.
    assert export_release("1.4") == dump_manifest(without_chempipe)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_import_that_changes_nothing_takes_no_lock():
    manifest = parse_manifest(RELEASE_1_4)
    import_manifests([("v1.4.yaml", manifest)])
    held = threading.Event()
    release_it = threading.Event()
    outcome: dict[str, str] = {}

    def holder() -> None:
        try:
            with transaction.atomic():
                list(Release.objects.select_for_update().filter(version="1.4"))
                held.set()
                release_it.wait(timeout=30)
        finally:
            connection.close()

    def unchanged() -> None:
        try:
            (result,) = import_manifests([("again/v1.4.yaml", manifest)])
            outcome["action"] = result.action
        finally:
            connection.close()

    lock_holder = threading.Thread(target=holder)
    lock_holder.start()
    held.wait(timeout=30)
    importer = threading.Thread(target=unchanged)
    importer.start()
    importer.join(timeout=15)
    finished_while_locked = not importer.is_alive()
    release_it.set()
    lock_holder.join(timeout=30)
    importer.join(timeout=30)

    assert finished_while_locked
    assert outcome == {"action": "unchanged"}
