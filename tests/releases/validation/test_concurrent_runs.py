"""Two runs of one release at once: one writes, the other defers to it (PostgreSQL, threads)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.db import connection

from registry.git.policy import GitPolicy
from releases.models import RepositoryPin
from releases.validation.models import ValidationRun
from releases.validation.runs import execute_run
from tests.gitserver import GIT

from .runs_world import World, store
from .test_runs import four_pins

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.git,
    pytest.mark.django_db(transaction=True),
]


def slow_policy(tmp_path: Path) -> GitPolicy:
    """A git that takes a second before each command: both runs are in flight together."""
    wrapper = tmp_path / "slow-git"
    wrapper.write_text(f'#!/bin/sh\nsleep 1\nexec "{GIT}" "$@"\n')
    wrapper.chmod(0o755)
    return GitPolicy.build(schemes=["git"], hosts=["127.0.0.1"], timeout=20, git=str(wrapper))


def test_two_runs_of_one_release_started_together_write_once(world: World, tmp_path: Path):
    release = store("1.4", four_pins(world)[:3])
    runs = [ValidationRun.objects.create(release=release, requested_by=f"r{i}") for i in range(2)]
    policy = slow_policy(tmp_path)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def carry_out(run: ValidationRun) -> None:
        try:
            start.wait()
            execute_run(run.pk, policy=policy)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=carry_out, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    ended = list(ValidationRun.objects.order_by("pk"))
    assert [run.state for run in ended] == ["done", "done"]
    (done,) = [run for run in ended if run.superseded_by_id is None]
    (superseded,) = [run for run in ended if run.superseded_by_id is not None]
    assert superseded.superseded_by_id == done.pk and superseded.error == ""
    # The run that deferred shows the results of the one that did the work.
    assert (superseded.counts, superseded.results) == (done.counts, done.results)
    assert len(done.results) == 3
    # One write per pin: one history record each from the run that did the work.
    assert RepositoryPin.history.filter(history_change_reason="validation").count() == 3
    assert set(RepositoryPin.objects.values_list("validated_at", flat=True)) == {done.finished_at}
