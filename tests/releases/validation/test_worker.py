"""End to end: a command queues a run on Redis, a real Celery worker carries it out.

The command, the worker and the test share one PostgreSQL test database (hence
``transaction=True``: the other processes must see the committed rows) and one Redis database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from releases.models import RepositoryPin
from releases.validation.models import ValidationRun
from tests.conftest import check_redis
from tests.gitserver import GitDaemon, RepositoryFolder, SilentServer

from .runs_world import Pin, World, build_world, store

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.git,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[3]
CELERY = str(Path(sys.executable).with_name("celery"))
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/7"


def test_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's ``test_...`` database)."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "postgres")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"])
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def environment(repository_folder: RepositoryFolder, git_daemon: GitDaemon) -> dict[str, str]:
    assert connection.vendor == "postgresql"
    redis_url = check_redis(os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": redis_url,
        "REGISTRY_GIT_ALLOWED_HOSTS": "127.0.0.1",
        "REGISTRY_GIT_ALLOWED_SCHEMES": "git",
        "REGISTRY_GIT_TIMEOUT": "10",
        "CONN_MAX_AGE": "0",
    }


@pytest.fixture
def world(repository_folder: RepositoryFolder, git_daemon: GitDaemon, settings) -> World:
    built = build_world(repository_folder, git_daemon)
    settings.REGISTRY_GIT_URL_TEMPLATE = built.template
    return built


def start_worker(env: dict[str, str], *options: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            CELERY,
            "-A",
            "config.celery_app",
            "worker",
            "--loglevel=INFO",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            *options,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@pytest.fixture
def worker_env(environment: dict[str, str], world: World) -> dict[str, str]:
    return {**environment, "REGISTRY_GIT_URL_TEMPLATE": world.template}


def stop(worker: subprocess.Popen[bytes]) -> str:
    """A warm shutdown (SIGTERM: finish the task at hand, then exit); its output."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        output, _ = worker.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        output, _ = worker.communicate()
    return output.decode("utf-8", "replace")


@pytest.fixture
def running_worker(worker_env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    worker = start_worker(worker_env, "--pool=solo")
    yield worker
    stop(worker)


def queue(env: dict[str, str], *versions: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "validate_releases", *versions],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "queued validation run #" in done.stdout


def wait_until_finished(timeout: float = 90) -> list[ValidationRun]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list(ValidationRun.objects.order_by("pk"))
        if runs and all(run.finished for run in runs):
            return runs
        time.sleep(0.2)
    raise AssertionError(f"runs not finished: {list(ValidationRun.objects.values('pk', 'state'))}")


def test_a_worker_on_redis_carries_a_run_end_to_end(
    world: World, worker_env: dict[str, str], running_worker: subprocess.Popen[bytes]
) -> None:
    store(
        "1.4",
        [
            Pin("pytroll/fogpy", "v2.6.1", world.shas["fogpy v2.6.1"][:10], "2.6.1"),
            Pin("chempipe-plugins", "v3.1.0", world.shas["fogpy other"], "3.1.0"),
            Pin("org/not-served", "v1.0.0", "b" * 40, "1.0.0"),
        ],
    )

    queue(worker_env, "1.4")
    (run,) = wait_until_finished()

    assert run.state == "done", run.error
    assert run.requested_by == "validate_releases"
    assert run.task_id and run.started_at and run.finished_at
    assert run.counts == {
        "valid": 1,
        "warning": 0,
        "invalid": 1,
        "unreachable": 1,
        "unchecked": 0,
    }
    states = dict(RepositoryPin.objects.values_list("repository__name", "validation_state"))
    assert states == {
        "pytroll/fogpy": "valid",
        "chempipe-plugins": "invalid",
        "org/not-served": "unreachable",
    }
    output = stop(running_worker)
    assert "releases.validation.execute_runs" in output and "succeeded" in output


def test_a_run_over_its_time_limit_is_marked_failed_by_the_worker(
    worker_env: dict[str, str], silent_server: SilentServer, settings
) -> None:
    silent = f"http://127.0.0.1:{silent_server.port}/org/silent.git"
    store("1.4", [Pin("org/silent", "v1.0.0", None, None, url=silent)])
    env = {
        **worker_env,
        "REGISTRY_GIT_ALLOWED_SCHEMES": "git,http",
        "REGISTRY_GIT_TIMEOUT": "6",
        "REGISTRY_VALIDATION_TIME_LIMIT": "1",
    }
    # The prefork pool: soft time limits need a child process to signal.
    worker = start_worker(env, "--pool=prefork", "--concurrency=1")
    try:
        queue(env, "1.4")
        (run,) = wait_until_finished()
    finally:
        stop(worker)

    assert run.state == "failed"
    assert "longer than its time limit (1 s, REGISTRY_VALIDATION_TIME_LIMIT)" in run.error
    assert RepositoryPin.objects.get().validation_state == "unchecked"
