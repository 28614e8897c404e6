"""``make stack``: the Procfile under honcho on one machine answers /healthz and stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from .conftest import database_name, postgres_server, require_redis_server
from .stack import ROOT, OwnRedis, drop_database, free_port, fresh_database, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def test_make_stack_runs_the_procfile_and_answers_healthz(tmp_path: Path) -> None:
    require_redis_server()
    database_url = fresh_database(postgres_server(), database_name("make"))
    redis = OwnRedis()
    redis.start()
    port = free_port()
    log = tmp_path / "make-stack.log"
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "NOTION_", "REGISTRY_", "CELERY_", "PYTEST", "MAKE"))
    }
    # What an operator sets (README): the two services; the rest are the target's defaults.
    environment.update(DATABASE_URL=database_url, REDIS_URL=redis.url)
    with log.open("wb") as output:
        make = subprocess.Popen(
            # -o: the virtualenv counts as installed (the test runs inside it).
            ["make", "-o", ".venv/.installed", "stack", f"STACK_PORT={port}"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def healthy() -> requests.Response | None:
        found = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        return found if found.status_code == 200 else None

    def logs() -> str:
        return log.read_text(errors="replace")[-8000:]

    try:
        answer = wait_until(
            healthy,
            120,
            "make stack to answer /healthz",
            logs,
        )
        health = answer.json()
        assert health["database"] == "ok" and health["broker"] == "ok", health
        wait_until(
            lambda: (
                re.search(r"worker\.1 .*ready\.", logs())
                and re.search(r"beat\.1 .*beat: Starting", logs())
            ),
            60,
            "the worker and beat under honcho",
            logs,
        )
        # Over plain HTTP on one machine: no redirect to HTTPS (DJANGO_SECURE_SSL_REDIRECT).
        admin = requests.get(
            f"http://127.0.0.1:{port}/admin/login/", timeout=10, allow_redirects=False
        )
        assert admin.status_code == 200, admin.text[:500]
        assert make.poll() is None, logs()
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGTERM)  # Ctrl-C's effect: honcho stops every process
        try:
            make.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait(10)
        redis.stop()
        drop_database(database_url)
    # honcho stopped the processes it started: nothing of the group is left.
    left = subprocess.run(
        ["pgrep", "-g", str(make.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert left == [], logs()
