"""The Celery shells: retry policy, and a task that fails for good marks its runs failed."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import InterfaceError, OperationalError

from releases.validation.models import ValidationRun
from releases.validation.tasks import execute_validation_runs

from .runs_world import Pin, store

pytestmark = pytest.mark.django_db


def test_transient_database_errors_are_retried_with_backoff() -> None:
    # Options given to @shared_task become attributes of the task (untyped in the stubs).
    task: Any = execute_validation_runs
    assert set(task.autoretry_for) == {OperationalError, InterfaceError}
    assert task.retry_backoff and task.retry_backoff_max == 300 and task.max_retries == 5
    assert task.acks_late


def test_a_task_that_fails_for_good_marks_its_unfinished_runs_failed(settings) -> None:
    settings.REGISTRY_GIT_URL_TEMPLATE = None
    release = store("1.4", [Pin("pytroll/fogpy", "v2.6.1", None, "2.6.1")])
    queued = ValidationRun.objects.create(release=release, requested_by="t", task_id="task-id")
    done = ValidationRun.objects.create(
        release=release, requested_by="t", state="done", task_id="task-id"
    )
    # Sent again by the recovery under another task since: that task's now, not this one's.
    resent = ValidationRun.objects.create(release=release, requested_by="t", task_id="newer")

    execute_validation_runs.on_failure(
        OperationalError("the database went away"),
        "task-id",
        ([queued.pk, done.pk, resent.pk],),
        {},
        None,
    )

    queued.refresh_from_db()
    done.refresh_from_db()
    resent.refresh_from_db()
    assert queued.state == "failed" and queued.finished_at is not None
    assert queued.error == ("the validation task failed: OperationalError: the database went away")
    assert (done.state, done.error) == ("done", "")
    assert (resent.state, resent.error) == ("queued", "")
