"""Failed changes are visible: /healthz counts them, the admin lists them."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from releases.notion.models import NotionChange
from releases.notion.sync import queue

pytestmark = pytest.mark.django_db


def test_healthz_counts_the_backlog_by_state(client: Client, settings: Any) -> None:
    settings.NOTION_TOKEN = None
    queue(1, "1.4", ["", "fogpy", "org/zürich"])
    NotionChange.objects.filter(repository="fogpy").update(
        state=NotionChange.State.FAILED, attempts=8, last_error="400 validation_error"
    )

    answer = client.get("/healthz").json()

    assert answer["notion_backlog"] == {"pending": 2, "failed": 1}


def test_the_admin_lists_failed_changes_with_their_error(
    admin_client: Client, settings: Any
) -> None:
    settings.NOTION_TOKEN = None
    queue(1, "1.4", ["org/zürich"])
    NotionChange.objects.update(
        state=NotionChange.State.FAILED,
        attempts=8,
        last_error="400 validation_error: Tag is expected to be number.",
        next_attempt_at=timezone.now(),
    )

    page = admin_client.get("/admin/releases/notionchange/?state=failed").content.decode()

    assert "1.4:org/zürich" in page
    assert "Tag is expected to be number." in page
