"""Recording a run while another writer holds its release or one of its pins (PostgreSQL,
threads): the record waits or is retried, it neither deadlocks a second run nor fails its
run for a transient error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection

from registry.git.policy import policy_from_settings
from releases import changes
from releases.models import Release, RepositoryPin
from releases.validation import runs as service
from releases.validation.models import ValidationRun

from .runs_world import World, store
from .test_runs import four_pins

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.git,
    pytest.mark.django_db(transaction=True),
]


def waits_for_a_lock(pid: int, timeout: float = 20) -> bool:
    """Whether the server process ``pid`` comes to wait for a row lock (watched from a
    connection of its own)."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as watcher:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            row = watcher.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()
            if row is not None and row[0] == "Lock":
                return True
            time.sleep(0.02)
    return False


def in_thread(body: Callable[[], Any], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            body()
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_run_asked_for_while_another_is_recorded_defers_to_it(world: World) -> None:
    """The second run's claim holds the release when the first run's record comes: the
    record waits for it, and the second run takes the first one's results."""
    release = store("1.4", four_pins(world)[:2])
    first = ValidationRun.objects.create(release=release, requested_by="schedule")
    claimed = service._claim([first.pk], "attempt-1")
    gathered = service._gather(
        claimed, policy=policy_from_settings(), package_index=None, concurrency=4
    )
    second = ValidationRun.objects.create(release=release, requested_by="zoë")
    recording = connection.connection.info.backend_pid
    holding = threading.Event()
    table = connection.ops.quote_name(Release._meta.db_table)

    def after_the_release_is_locked(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not holding.is_set() and "FOR UPDATE" in sql and f"FROM {table}" in sql:
            holding.set()
            waits_for_a_lock(recording)  # the record has come and waits
        return result

    def claim_second() -> None:
        with connection.execute_wrapper(after_the_release_is_locked):
            service.execute_runs([second.pk])

    errors: list[BaseException] = []
    thread = in_thread(claim_second, errors)
    assert holding.wait(20)
    try:
        service._record(claimed, gathered, "attempt-1")
    finally:
        thread.join()

    assert errors == []
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.state == "done"
    assert (second.state, second.superseded_by_id) == ("done", first.pk)
    assert second.results == first.results != []


def test_a_deadlock_while_recording_gives_the_run_back_for_a_retry(world: World) -> None:
    """A pin saved in the admin while its release is recorded: the admin's batch holds the
    pin and, when it ends, wants the release the record holds. The database breaks the
    deadlock by cancelling the record: a transient error, so the run goes back to the queue
    and the error reaches the task, which retries (it is not marked failed)."""
    release = store("1.4", four_pins(world)[:2])
    pin = RepositoryPin.objects.filter(release=release).order_by("position").last()
    assert pin is not None
    run = ValidationRun.objects.create(release=release, requested_by="schedule")
    recording = connection.connection.info.backend_pid
    saved = threading.Event()

    def save_in_the_admin() -> None:
        try:
            with changes.batch(changes.ADMIN):
                edited = RepositoryPin.objects.get(pk=pin.pk)
                edited.package_version = "1.4.9"
                edited.save()
                saved.set()
                assert waits_for_a_lock(recording)  # the record waits for the pin
        finally:
            saved.set()

    errors: list[BaseException] = []
    thread = in_thread(save_in_the_admin, errors)
    assert saved.wait(20)
    try:
        with pytest.raises(OperationalError, match="deadlock detected"):
            service.execute_runs([run.pk])
    finally:
        thread.join()

    assert errors == []
    run.refresh_from_db()
    assert (run.state, run.error) == ("queued", "")
    assert RepositoryPin.objects.get(pk=pin.pk).package_version == "1.4.9"
