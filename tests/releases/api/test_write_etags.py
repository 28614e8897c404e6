"""A write's ETag is the revision that write made, even when another commits right after it.

A pipeline sends the ETag of its last write back in ``If-Match``; were the answer to carry a
later write's revision, that next write would pass and overwrite a change it never saw.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from releases import changes
from releases.edits import edit_pin
from releases.exporting import manifest_for
from releases.models import Release
from tests.releases.manifests import RELEASE_1_4, import_text

from .conftest import token_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def another_write_right_after_the_next_commit() -> Iterator[None]:
    """Once: as soon as the next API change of 1.4 commits, another writer changes fogpy."""
    fired: list[bool] = []

    def other_writer() -> None:
        try:
            with changes.batch(changes.API, actor="pipeline-a"):
                release = Release.objects.select_for_update().get(version="1.4")
                edit_pin(release, "fogpy", {"tag": "v2.6.9"}, source="pipeline-a")
        finally:
            connection.close()

    def in_another_thread() -> None:
        # Another pipeline: a thread (a connection and a context) of its own.
        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(30)

    def receiver(sender: Any, change: changes.ReleaseChange, **kwargs: Any) -> None:
        if not fired and change.actor == "pipeline-b":
            fired.append(True)
            transaction.on_commit(in_another_thread)

    changes.release_changed.connect(receiver, dispatch_uid="test-another-write")
    try:
        yield
    finally:
        changes.release_changed.disconnect(dispatch_uid="test-another-write")
    assert fired, "the other write never ran"


def revision() -> int:
    return Release.objects.get(version="1.4").revision


Write = Callable[[APIClient, str], Any]

WRITES: dict[str, Write] = {
    "manifest": lambda client, etag: client.put(
        "/api/releases/1.4/manifest",
        data=json.dumps(
            {**json.loads(client.get("/api/releases/1.4/manifest").content), "created_by": "ci"}
        ),
        content_type="application/json",
        HTTP_IF_MATCH=etag,
    ),
    "deployment": lambda client, etag: client.put(
        "/api/releases/1.4/deployments/qa/",
        data=json.dumps({"namespace": "qa-v1.4", "deployed_at": "2025-02-01T10:00:00Z"}),
        content_type="application/json",
        HTTP_IF_MATCH=etag,
    ),
    "pin": lambda client, etag: client.patch(
        "/api/releases/1.4/pins/fogpy_utils/",
        data=json.dumps({"tag": "v1.4.9"}),
        content_type="application/json",
        HTTP_IF_MATCH=etag,
    ),
}


@pytest.mark.parametrize("kind", WRITES)
def test_the_etag_of_a_write_is_its_own_revision(
    kind: str, another_write_right_after_the_next_commit: None
) -> None:
    import_text(RELEASE_1_4)
    client = token_client("pipeline-b", "write")
    before = revision()
    response = WRITES[kind](client, f'"{before}"')
    assert response.status_code in (200, 201), response.content
    assert revision() == before + 2  # ours, then the other writer's
    assert response["ETag"] == f'"{before + 1}"'
    # Sent back, that ETag is stale: the next write is refused instead of undoing fogpy's tag.
    again = client.patch(
        "/api/releases/1.4/pins/fogpy/",
        data=json.dumps({"tag": "v2.7.0"}),
        content_type="application/json",
        HTTP_IF_MATCH=response["ETag"],
    )
    assert again.status_code == 412
    assert manifest_for("1.4").repository("fogpy").tag == "v2.6.9"  # type: ignore[union-attr]
