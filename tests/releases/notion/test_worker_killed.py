"""A real Celery worker killed in the middle of a sync: no page is made twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.db import connection

from releases.models import Release
from releases.notion.models import NotionChange, NotionPage
from releases.notion.tasks import send_release_changes, sweep_notion_changes
from tests.releases.manifests import generated_manifest, import_text

from .test_faults import OwnRedis

ROOT = Path(__file__).resolve().parents[3]
PINS = 300

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def broker(settings: Any) -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    saved = {key: current_app.conf[key] for key in ("broker_url", "task_always_eager")}
    current_app.conf.update(broker_url=server.url, task_always_eager=False)
    try:
        yield server
    finally:
        current_app.conf.update(saved)
        server.stop()


def start_worker(
    notion: Any, broker: OwnRedis, log: Path, **overrides: str
) -> subprocess.Popen[bytes]:
    """A Celery worker (the solo pool) on this test's database, broker and Notion; its
    settings' environment variables as given in ``overrides``."""
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        "REDIS_URL": broker.url,
        "NOTION_TOKEN": notion.server.token,
        "NOTION_BASE_URL": notion.server.url,
        "NOTION_RELEASE_VIEWS_DATABASE_ID": notion.views,
        "NOTION_PRODUCT_VERSIONS_DATABASE_ID": notion.versions,
        # Slow enough to be killed in the middle; a short hold on the release.
        "NOTION_REQUESTS_PER_SECOND": "60",
        "NOTION_CLAIM_SECONDS": "2",
        **overrides,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config.celery_app",
            "worker",
            "--pool=solo",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=environment,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def send(task: Any, broker: OwnRedis, *args: Any) -> None:
    """Through a connection to this test's broker (not a pooled one made for another)."""
    with current_app.connection_for_write(broker.url) as connection:
        task.apply_async(args, connection=connection)


def kill(worker: subprocess.Popen[bytes]) -> None:
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(10)


def wait_for(condition: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_sync_leaves_no_duplicate_page(
    notion: Any, broker: OwnRedis, settings: Any, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    settings.NOTION_TOKEN = None  # queued only: the worker sends
    import_text(generated_manifest(PINS, version="6.0"))
    release_id = Release.objects.get(version="6.0").pk
    settings.NOTION_TOKEN = notion.server.token

    def created() -> int:
        return int(notion.server.count("POST", "/v1/pages"))

    worker = start_worker(notion, broker, log)
    try:
        send(send_release_changes, broker, release_id)
        wait_for(lambda: created() >= 80, 60, "the worker to make 80 pages", log)
    finally:
        kill(worker)
    killed_at = created()
    assert killed_at < PINS + 1, "killed before the end"
    # Pages the dead worker made but had not written down yet (it writes them down 50 at a
    # time) are found again by their key below; a kill that lands just after a write-down
    # leaves none, and the rest of the test holds all the same.
    assert NotionPage.objects.count() <= killed_at

    # A new worker; the beat's sweeper runs once the dead worker's hold has run out.
    time.sleep(2.5)
    worker = start_worker(notion, broker, log)
    try:
        send(sweep_notion_changes, broker)
        wait_for(lambda: not NotionChange.objects.exists(), 60, "every change to be sent", log)
    finally:
        kill(worker)

    pins = notion.pins()  # fails on two live pages with one key
    assert len(pins) == PINS
    assert len(notion.releases()) == 1
    # Not one page made twice, even in the trash.
    assert created() == PINS + 1
