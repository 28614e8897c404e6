"""A release's hold (its claim) by a real Celery worker's sync: kept while the sync runs however
long it takes, and neither kept by a sync that failed nor lost for its retry when the database
is away at the moment of the failure."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from releases.models import Release
from releases.notion.client import connect
from releases.notion.models import RELEASE_PAGE, NotionChange
from releases.notion.sync import sync_release
from releases.notion.tasks import send_release_changes, sweep_notion_changes
from tests.releases.manifests import generated_manifest, import_text

from .test_faults import OwnRedis
from .test_worker_killed import broker, kill, send, start_worker, wait_for  # noqa: F401

PINS = 300

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def queued_release(version: str, settings: Any, token: str) -> int:
    """A release of PINS pins whose changes are queued, not sent (the worker sends them)."""
    settings.NOTION_TOKEN = None
    import_text(generated_manifest(PINS, version=version))
    settings.NOTION_TOKEN = token
    return int(Release.objects.get(version=version).pk)


def held_until(release_id: int) -> Any:
    return (
        NotionChange.objects.filter(release_id=release_id, repository=RELEASE_PAGE)
        .values_list("claimed_until", flat=True)
        .first()
    )


@contextlib.contextmanager
def postgresql_away_for_others() -> Iterator[None]:
    """The test database as a PostgreSQL that is away for everyone but this test: every other
    connection cut, no new one accepted (set from the ``postgres`` database: PostgreSQL
    refuses to close the database a session is connected to)."""
    database = connection.settings_dict
    name = connection.ops.quote_name(database["NAME"])
    with psycopg.connect(
        host=database["HOST"],
        port=database["PORT"] or 5432,
        user=database["USER"],
        password=database["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false")
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            yield
        finally:
            admin.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true")


def pages_created(notion: Any) -> int:
    return int(notion.server.count("POST", "/v1/pages"))


def assert_every_page_made_once(notion: Any) -> None:
    assert len(notion.pins()) == PINS  # fails on two live pages with one key
    assert len(notion.releases()) == 1
    assert pages_created(notion) == PINS + 1


def test_a_sync_slower_than_its_claim_keeps_its_release_from_a_second_sender(
    notion: Any,
    broker: OwnRedis,  # noqa: F811
    settings: Any,
    tmp_path: Path,
) -> None:
    log = tmp_path / "worker.log"
    release_id = queued_release("7.0", settings, notion.server.token)

    def created() -> int:
        return pages_created(notion)

    # A hold of 1.5 s on a sync of about 6 s (300 pages at 50 requests a second).
    worker = start_worker(
        notion, broker, log, NOTION_CLAIM_SECONDS="1.5", NOTION_REQUESTS_PER_SECOND="50"
    )
    try:
        send(send_release_changes, broker, release_id)
        wait_for(lambda: held_until(release_id) is not None, 60, "the worker's hold", log)
        first = held_until(release_id)
        wait_for(lambda: timezone.now() > first, 10, "the first hold to run out", log)
        assert created() < PINS + 1, "the worker's sync is still running"

        # A second sender (a sweep, `sync_notion`) finds the release held, and sends nothing.
        second = connect()
        assert second is not None
        try:
            outcome = sync_release(second, release_id)
        finally:
            second.close()
        assert (outcome.busy, outcome.sent) == (1, 0)

        wait_for(lambda: not NotionChange.objects.exists(), 60, "every change to be sent", log)
    finally:
        kill(worker)

    assert_every_page_made_once(notion)


def test_a_worker_cut_off_from_postgresql_mid_sync_hands_its_claim_to_its_retry(
    notion: Any,
    broker: OwnRedis,  # noqa: F811
    settings: Any,
    tmp_path: Path,
) -> None:
    log = tmp_path / "worker.log"
    release_id = queued_release("7.1", settings, notion.server.token)

    def created() -> int:
        return pages_created(notion)

    # A hold of ten minutes: only giving it up, or handing it on, lets the rest go out soon.
    worker = start_worker(
        notion,
        broker,
        log,
        NOTION_CLAIM_SECONDS="600",
        NOTION_REQUESTS_PER_SECOND="60",
        NOTION_BACKOFF_SECONDS="1",
    )
    failed = re.compile(r"send_release_changes\[[-\w]+\] (raised|retry)")
    try:
        send(send_release_changes, broker, release_id)
        wait_for(lambda: created() >= 80, 60, "the worker to make 80 pages", log)
        with postgresql_away_for_others():
            # The sync fails (and cannot give its hold up).
            wait_for(lambda: failed.search(log.read_text()), 60, "the sync to fail", log)
        assert created() < PINS + 1, "cut off before the end"

        # PostgreSQL back: the task's retry takes the hold over and sends the rest.
        wait_for(lambda: not NotionChange.objects.exists(), 60, "every change to be sent", log)
    finally:
        kill(worker)

    # Not one page made twice: pages made but not written down were found again by key.
    assert_every_page_made_once(notion)


def test_a_worker_that_loses_redis_mid_sync_gives_its_claim_up(
    notion: Any,
    broker: OwnRedis,  # noqa: F811
    settings: Any,
    tmp_path: Path,
) -> None:
    log = tmp_path / "worker.log"
    release_id = queued_release("7.2", settings, notion.server.token)

    def created() -> int:
        return pages_created(notion)

    worker = start_worker(
        notion,
        broker,
        log,
        NOTION_CLAIM_SECONDS="600",
        NOTION_REQUESTS_PER_SECOND="60",
        NOTION_BACKOFF_SECONDS="0",
    )
    try:
        send(send_release_changes, broker, release_id)
        wait_for(lambda: created() >= 80, 60, "the worker to make 80 pages", log)
        broker.stop()  # the broker, the request budget and the cache
        try:
            wait_for(lambda: held_until(release_id) is None, 60, "the hold to be given up", log)
        finally:
            broker.start()
        assert created() < PINS + 1, "cut off before the end"
        send(sweep_notion_changes, broker)
        wait_for(lambda: not NotionChange.objects.exists(), 60, "every change to be sent", log)
    finally:
        kill(worker)

    assert len(notion.pins()) == PINS
    assert created() == PINS + 1
