"""Runs left behind by a dead worker (or whose task never came) are sent again and finish;
a run whose worker is alive is left to it; a run taken over records nothing."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery_app import app
from registry.git.policy import GitPolicy
from releases.models import Release, RepositoryPin
from releases.validation import runs as service
from releases.validation.models import ValidationRun
from releases.validation.runs import execute_run, fail_runs, recover_stale_runs
from releases.validation.schedule import RECOVERY_TASK, RECOVERY_TASK_NAME
from tests.gitserver import GIT, GitDaemon, RecordedGit, RepositoryFolder

from .runs_world import Pin, World, build_world, eager_tasks, store

pytestmark = [pytest.mark.django_db, pytest.mark.git]


@pytest.fixture
def world(repository_folder: RepositoryFolder, git_daemon: GitDaemon, settings) -> World:
    built = build_world(repository_folder, git_daemon)
    settings.REGISTRY_GIT_URL_TEMPLATE = built.template
    settings.REGISTRY_GIT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.REGISTRY_GIT_ALLOWED_SCHEMES = ["git"]
    settings.REGISTRY_GIT_TIMEOUT = 10
    settings.REGISTRY_PACKAGE_INDEX_URL = None
    settings.REGISTRY_VALIDATION_STALE_AFTER = 60
    return built


@pytest.fixture
def release(world: World) -> Release:
    return store(
        "1.4",
        [
            Pin("pytroll/fogpy", "v2.6.1", world.shas["fogpy v2.6.1"], "2.6.1"),
            Pin("fogpy_utils", "v1.4.2", world.shas["fogpy_utils v1.4.2"], "1.4.2"),
        ],
    )


def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_a_run_left_running_by_a_dead_worker_is_sent_again_and_finishes(
    release: Release, django_capture_on_commit_callbacks
):
    started = ago(300)
    dead = ValidationRun.objects.create(
        release=release,
        requested_by="zoë",
        state="running",
        started_at=started,
        heartbeat_at=ago(120),
        attempt="a-worker-that-died",
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        recovered = recover_stale_runs()

    assert recovered == [dead.pk]
    dead.refresh_from_db()
    assert (dead.state, dead.attempt) == ("queued", "")
    assert len(callbacks) == 1
    with eager_tasks():
        callbacks[0]()
    dead.refresh_from_db()
    assert dead.state == "done" and dead.started_at == started
    assert [result["state"] for result in dead.results] == ["valid", "valid"]
    assert set(RepositoryPin.objects.values_list("validated_at", flat=True)) == {dead.finished_at}


def test_a_queued_run_whose_task_never_came_is_sent_again(
    release: Release, django_capture_on_commit_callbacks
):
    lost = ValidationRun.objects.create(release=release, requested_by="zoë", queued_at=ago(90))
    waiting = ValidationRun.objects.create(release=release, requested_by="zoë", queued_at=ago(5))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert recover_stale_runs() == [lost.pk]
    with eager_tasks():
        callbacks[0]()

    lost.refresh_from_db()
    waiting.refresh_from_db()
    assert lost.state == "done" and lost.counts["valid"] == 2
    # Sent recently: its task is still on its way.
    assert waiting.state == "queued"
    # Sent again, it is not sent again before it is stale again.
    assert recover_stale_runs() == []


def test_a_run_whose_worker_is_alive_is_left_to_it(release: Release, recorded_git: RecordedGit):
    alive = ValidationRun.objects.create(
        release=release,
        requested_by="zoë",
        state="running",
        started_at=ago(600),
        heartbeat_at=ago(10),
        attempt="a-live-worker",
    )

    assert recover_stale_runs() == []
    # The same task delivered twice: the second delivery does nothing.
    again = execute_run(alive.pk, policy=recorded_git.policy())

    assert (again.state, again.attempt) == ("running", "a-live-worker")
    assert recorded_git.calls("ls-remote") == []
    assert set(RepositoryPin.objects.values_list("validation_state", flat=True)) == {"unchecked"}


def test_a_run_taken_over_records_nothing_from_its_old_worker(release: Release):
    run = ValidationRun.objects.create(release=release, requested_by="zoë")
    claimed = service._claim([run.pk], "first-worker")
    gathered = service._gather(
        claimed, policy=service.policy_from_settings(), package_index=None, concurrency=2
    )
    # The first worker went silent; another took the run over meanwhile.
    ValidationRun.objects.filter(pk=run.pk).update(attempt="second-worker")

    assert service._record(claimed, gathered, "first-worker") == []

    run.refresh_from_db()
    assert (run.state, run.attempt, run.results) == ("running", "second-worker", [])
    assert set(RepositoryPin.objects.values_list("validation_state", flat=True)) == {"unchecked"}
    assert Release.objects.get().revision == release.revision


def test_a_superseded_run_is_done_with_the_results_of_the_run_it_deferred_to(
    release: Release, recorded_git: RecordedGit
):
    holder = ValidationRun.objects.create(release=release, requested_by="schedule")
    service._claim([holder.pk], "holder")
    late = execute_run(
        ValidationRun.objects.create(release=release, requested_by="zoë").pk,
        policy=recorded_git.policy(),
    )
    assert (late.state, late.superseded_by_id, late.results) == ("done", holder.pk, [])
    assert service.latest_run(release) is None  # nothing validated yet

    # The holder's worker finishes it (the claim above was its own).
    ValidationRun.objects.filter(pk=holder.pk).update(attempt="", state="queued")
    finished = execute_run(holder.pk, policy=recorded_git.policy())

    late.refresh_from_db()
    assert finished.state == "done" and len(finished.results) == 2
    assert (late.counts, late.results) == (finished.counts, finished.results)
    assert service.latest_run(release) == finished


def test_a_superseded_run_fails_with_the_run_it_deferred_to(
    release: Release, recorded_git: RecordedGit
):
    holder = ValidationRun.objects.create(release=release, requested_by="schedule")
    service._claim([holder.pk], "holder")
    late = execute_run(
        ValidationRun.objects.create(release=release, requested_by="zoë").pk,
        policy=recorded_git.policy(),
    )

    fail_runs([holder.pk], "the validation task failed: WorkerLostError")

    late.refresh_from_db()
    assert late.state == "failed"
    assert late.error == (
        f"validation run #{holder.pk}, which was validating this release, failed: "
        "the validation task failed: WorkerLostError"
    )


def test_migrate_installs_the_recovery_every_30_seconds() -> None:
    task = PeriodicTask.objects.select_related("interval").get(name=RECOVERY_TASK_NAME)
    assert task.task == RECOVERY_TASK and task.enabled
    assert (task.interval.every, task.interval.period) == (30, "seconds")
    app.loader.import_default_modules()
    assert RECOVERY_TASK in app.tasks


@pytest.mark.django_db(transaction=True)
def test_a_long_run_says_it_is_alive_while_it_lasts(world: World, tmp_path, settings):
    settings.REGISTRY_VALIDATION_HEARTBEAT = 0.2
    settings.REGISTRY_VALIDATION_STALE_AFTER = 0.6
    release = store("1.4", [Pin("pytroll/fogpy", "v2.6.1", world.shas["fogpy v2.6.1"])])
    run = ValidationRun.objects.create(release=release, requested_by="zoë")
    slow = tmp_path / "slow-git"
    slow.write_text(f'#!/bin/sh\nsleep 1.5\nexec "{GIT}" "$@"\n')
    slow.chmod(0o755)
    policy = GitPolicy.build(schemes=["git"], hosts=["127.0.0.1"], timeout=20, git=str(slow))
    seen: list[list[int]] = []

    def recover_meanwhile() -> None:
        # Past the stale delay while the listing is still under way: the heartbeat keeps
        # the run from being taken for dead.
        time.sleep(1.0)
        seen.append(recover_stale_runs())
        connection.close()

    other = threading.Thread(target=recover_meanwhile)
    other.start()
    finished = execute_run(run.pk, policy=policy)
    other.join()

    assert seen == [[]]
    assert finished.state == "done"
    stored = ValidationRun.objects.get(pk=run.pk)
    assert stored.heartbeat_at is not None and stored.started_at is not None
    assert stored.heartbeat_at > stored.started_at + timedelta(seconds=0.5)


@pytest.mark.django_db(transaction=True)
def test_runs_stored_failed_as_skipped_read_as_superseded_after_the_migration() -> None:
    from django.db.migrations.executor import MigrationExecutor

    before = [("releases", "0007_admin_groups")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("releases")
    executor.migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        runs = old.get_model("releases", "ValidationRun")
        release = old.get_model("releases", "Release").objects.create(version="1.4")
        holder = runs.objects.create(
            release=release, state="done", counts={"valid": 2}, results=[{"state": "valid"}]
        )
        skipped = runs.objects.create(
            release=release,
            state="failed",
            error=f"skipped: validation run #{holder.pk} of release 1.4 was running; "
            "its results are the ones recorded",
        )
        broken = runs.objects.create(release=release, state="failed", error="git went away")
    finally:
        MigrationExecutor(connection).migrate(latest)

    ended = {run.pk: run for run in ValidationRun.objects.all()}
    assert (ended[skipped.pk].state, ended[skipped.pk].superseded_by_id) == ("done", holder.pk)
    assert (ended[skipped.pk].error, ended[skipped.pk].counts) == ("", {"valid": 2})
    assert (ended[broken.pk].state, ended[broken.pk].error) == ("failed", "git went away")
