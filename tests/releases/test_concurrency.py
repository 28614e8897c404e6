"""Imports at the same time on PostgreSQL: one wins a race for a release, history follows the
order they took effect in, imports of different releases do not collide, and a change made
by another transaction meanwhile is seen by the findings."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import replace
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from registry.models import Environment, Repository
from releases import changes, release_writer
from releases.exporting import export_release, manifest_for
from releases.history import manifest_as_of
from releases.importing import import_manifests
from releases.manifests import Manifest, ManifestRejected, dump_manifest, parse_manifest
from releases.models import PinDependency, Release, RepositoryPin

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


def wait_for_a_lock_wait() -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not waiting_on_a_lock():
        time.sleep(0.05)
    assert waiting_on_a_lock(), "the second import never waited for the lock"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_history_of_overlapping_imports_is_dated_in_the_order_they_took_effect():
    import_manifests([("v1.4.yaml", parse_manifest(RELEASE_1_4))])
    first = parse_manifest(RELEASE_1_4.replace('tag: "v2.6.1"', 'tag: "v2.6.2"'))
    second = parse_manifest(RELEASE_1_4.replace('tag: "v2.6.1"', 'tag: "v2.6.3"'))
    locked = threading.Event()
    second_waits = threading.Event()
    outcome: dict[str, str] = {}

    def first_import() -> None:
        # A pipeline's transaction that holds the release before it imports (as an API
        # request would): the second import starts, and reads, before the first writes.
        try:
            with transaction.atomic():
                list(Release.objects.select_for_update().filter(version="1.4"))
                locked.set()
                second_waits.wait(timeout=30)
                (result,) = import_manifests([("pipeline-a/v1.4.yaml", first)])
                outcome["first"] = result.action
        finally:
            connection.close()

    def second_import() -> None:
        locked.wait(timeout=30)
        try:
            (result,) = import_manifests([("pipeline-b/v1.4.yaml", second)])
            outcome["second"] = result.action
        finally:
            connection.close()

    threads = [threading.Thread(target=first_import), threading.Thread(target=second_import)]
    for thread in threads:
        thread.start()
    locked.wait(timeout=30)
    wait_for_a_lock_wait()
    second_waits.set()
    for thread in threads:
        thread.join(timeout=30)

    assert outcome == {"first": "updated", "second": "updated"}
    live = export_release("1.4")
    assert live == dump_manifest(second)
    # The point-in-time answer for now is the live state, not the first import's.
    as_of_now = manifest_as_of("1.4", timezone.now())
    assert as_of_now is not None
    assert dump_manifest(as_of_now) == live
    tags = RepositoryPin.history.filter(repository__name="fogpy").order_by("history_date")
    assert [record.tag for record in tags] == ["v2.6.1", "v2.6.2", "v2.6.3"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_imports_of_different_releases_sharing_new_repositories_both_succeed():
    shared = RELEASE_1_4.replace('"fogpy_utils"', '"fogpy-shared-utils"')
    first = parse_manifest(shared)
    second = parse_manifest(shared.replace('version: "1.4"', 'version: "1.5"'))
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
        except ManifestRejected as exc:
            outcome[name] = exc
        finally:
            connection.close()

    a = threading.Thread(target=run, args=("pipeline-a/v1.4.yaml", first, True))
    b = threading.Thread(target=run, args=("pipeline-b/v1.5.yaml", second, False))
    a.start()
    first_has_written.wait(timeout=30)
    b.start()
    # The second waits on the first's uncommitted repositories and environment.
    wait_for_a_lock_wait()
    let_first_commit.set()
    a.join(timeout=30)
    b.join(timeout=30)

    assert outcome == {"pipeline-a/v1.4.yaml": "created", "pipeline-b/v1.5.yaml": "created"}
    assert Repository.objects.count() == 3
    assert Environment.objects.count() == 1
    # One creation record per repository and environment: the first import's.
    created = Repository.history.filter(history_type="+")
    assert created.count() == 3
    assert set(created.values_list("history_change_reason", flat=True)) == {
        "imported from pipeline-a/v1.4.yaml"
    }
    assert Environment.history.filter(history_type="+").count() == 1
    assert export_release("1.5") == dump_manifest(second)


TWO_PINS = """\
version: "1.4"
repositories:
  - name: "org/p"
    tag: "v1"
    commit_sha: null
    package_version: null
  - name: "org/q"
    tag: "v1"
    commit_sha: null
    package_version: null
"""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cycle_made_by_an_import_and_an_admin_edit_at_the_same_time_is_found():
    import_manifests([("v1.4.yaml", parse_manifest(TWO_PINS))])
    # The file: p depends on q. The admin, meanwhile: q depends on p.
    p_on_q = TWO_PINS.replace(
        '    package_version: null\n  - name: "org/q"',
        '    package_version: null\n    depends_on: ["org/q"]\n  - name: "org/q"',
    )
    import_has_written = threading.Event()
    let_import_commit = threading.Event()
    outcome: dict[str, object] = {}

    def import_file() -> None:
        def hold(_result: object) -> None:
            import_has_written.set()
            let_import_commit.wait(timeout=30)

        try:
            (result,) = import_manifests([("p.yaml", parse_manifest(p_on_q))], progress=hold)
            outcome["import"] = result.action
        finally:
            connection.close()

    def admin_edit() -> None:
        import_has_written.wait(timeout=30)
        try:
            with changes.batch(changes.ADMIN):
                q = RepositoryPin.objects.get(repository__name="org/q")
                p = RepositoryPin.objects.get(repository__name="org/p")
                PinDependency.objects.create(pin=q, depends_on=p)
            outcome["admin"] = "saved"
        finally:
            connection.close()

    threads = [threading.Thread(target=import_file), threading.Thread(target=admin_edit)]
    for thread in threads:
        thread.start()
    import_has_written.wait(timeout=30)
    # The admin's batch waits for the release the import holds before it checks it.
    wait_for_a_lock_wait()
    let_import_commit.set()
    for thread in threads:
        thread.join(timeout=30)

    assert outcome == {"import": "updated", "admin": "saved"}
    assert PinDependency.objects.count() == 2  # p -> q -> p
    codes = {
        pin.repository.name: [finding["code"] for finding in pin.findings]
        for pin in RepositoryPin.objects.select_related("repository")
    }
    assert "dependency-cycle" in codes["org/p"], codes
    assert Release.objects.get().revision == 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_point_in_time_of_a_release_whose_new_repository_another_import_created_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
):
    shared = RELEASE_1_4.replace('"fogpy_utils"', '"org/shared"')
    first = parse_manifest(shared)  # 1.4
    second = parse_manifest(shared.replace('version: "1.4"', 'version: "1.5"'))
    second_started = threading.Event()
    first_inserted = threading.Event()
    resolve = release_writer.ReleaseWriter.repositories

    def repositories(self: release_writer.ReleaseWriter) -> Any:
        # 1.5 starts first and, once under way, lets 1.4 create the shared repositories
        # before it looks for them (and waits for 1.4's uncommitted rows).
        if self.manifest.version == "1.5":
            second_started.set()
            first_inserted.wait(timeout=30)
            return resolve(self)
        found = resolve(self)
        first_inserted.set()
        return found

    monkeypatch.setattr(release_writer.ReleaseWriter, "repositories", repositories)
    outcome: dict[str, object] = {}

    def run(name: str, manifest: Manifest, hold: bool) -> None:
        def wait(_result: object) -> None:
            # Commit only once 1.5 waits on this import's new repositories.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not waiting_on_a_lock():
                time.sleep(0.05)

        try:
            (result,) = import_manifests([(name, manifest)], progress=wait if hold else None)
            outcome[name] = result.action
        finally:
            connection.close()

    b = threading.Thread(target=run, args=("b/v1.5.yaml", second, False))
    b.start()
    second_started.wait(timeout=30)
    a = threading.Thread(target=run, args=("a/v1.4.yaml", first, True))
    a.start()
    a.join(timeout=30)
    b.join(timeout=30)

    assert outcome == {"a/v1.4.yaml": "created", "b/v1.5.yaml": "created"}
    written = (
        RepositoryPin.history.filter(history_change_reason="imported from b/v1.5.yaml")
        .values_list("history_date", flat=True)
        .first()
    )
    created = Repository.history.get(name="org/shared", history_type="+")
    assert created.history_change_reason == "imported from a/v1.4.yaml"
    # 1.5's rows are dated after the repository they name came into the catalogue ...
    assert created.history_date <= written
    # ... so the registry's answer for 1.5 just after it was written is the live one.
    assert manifest_as_of("1.5", written + dt.timedelta(microseconds=1)) == manifest_for("1.5")
