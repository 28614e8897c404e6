"""Two pipelines writing one release: they take turns, and a stale If-Match is refused."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from releases import changes
from releases.edits import edit_pin
from releases.exporting import manifest_for
from releases.models import Release
from tests.releases.manifests import RELEASE_1_4, import_text
from tests.releases.test_concurrency import waiting_on_a_lock

from .conftest import token_client

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def holding_the_release(locked: threading.Event, release_go: threading.Event) -> None:
    """Another writer: locks 1.4, waits to be told, then changes fogpy's tag and commits."""
    try:
        with changes.batch(changes.API, actor="pipeline-a"):
            release = Release.objects.select_for_update().get(version="1.4")
            locked.set()
            release_go.wait(10)
            edit_pin(release, "fogpy", {"tag": "v2.6.9"}, source="pipeline-a")
    finally:
        connection.close()


def wait_for_a_lock_wait() -> None:
    for _ in range(200):
        if waiting_on_a_lock():
            return
        time.sleep(0.05)
    raise AssertionError("the second write never waited for the release's lock")


def patch(client: APIClient, url: str, body: dict, **headers: Any):
    return client.patch(url, data=json.dumps(body), content_type="application/json", **headers)


def test_a_write_waits_for_the_other_and_both_changes_stay(postgres_database: None) -> None:
    import_text(RELEASE_1_4)
    client = token_client("pipeline-b", "write")
    locked, go = threading.Event(), threading.Event()
    other = threading.Thread(target=holding_the_release, args=(locked, go))
    other.start()
    assert locked.wait(10)
    results: list[int] = []

    def second() -> None:
        try:
            response = patch(client, "/api/releases/1.4/pins/fogpy_utils/", {"tag": "v1.4.9"})
            results.append(response.status_code)
        finally:
            connection.close()

    waiting = threading.Thread(target=second)
    waiting.start()
    wait_for_a_lock_wait()
    assert results == []  # still waiting for the lock
    go.set()
    other.join(10)
    waiting.join(10)
    assert results == [200]
    manifest = manifest_for("1.4")
    assert manifest.repository("fogpy").tag == "v2.6.9"  # type: ignore[union-attr]
    assert manifest.repository("fogpy_utils").tag == "v1.4.9"  # type: ignore[union-attr]


def test_a_write_with_the_etag_read_before_another_commit_gets_412(
    postgres_database: None,
) -> None:
    import_text(RELEASE_1_4)
    client = token_client("pipeline-b", "write")
    etag = client.get("/api/releases/1.4/")["ETag"]
    locked, go = threading.Event(), threading.Event()
    other = threading.Thread(target=holding_the_release, args=(locked, go))
    other.start()
    assert locked.wait(10)
    results: list[int] = []

    def second() -> None:
        try:
            response = patch(
                client, "/api/releases/1.4/pins/fogpy/", {"tag": "v3.0.0"}, HTTP_IF_MATCH=etag
            )
            results.append(response.status_code)
        finally:
            connection.close()

    waiting = threading.Thread(target=second)
    waiting.start()
    wait_for_a_lock_wait()
    go.set()
    other.join(10)
    waiting.join(10)
    assert results == [412]
    assert manifest_for("1.4").repository("fogpy").tag == "v2.6.9"  # type: ignore[union-attr]
