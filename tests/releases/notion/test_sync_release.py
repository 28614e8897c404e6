"""A release reaches the local Notion through the real notion-client, as CONTRACT §4 says."""

from __future__ import annotations

from typing import Any

import pytest

from releases.notion.models import NotionChange, NotionPage
from tests.releases.manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db


def test_import_creates_a_page_per_pin_and_one_for_the_release(
    notion: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        import_text(RELEASE_1_4)

    pins = notion.pins()
    assert set(pins) == {"1.4:fogpy", "1.4:fogpy_utils", "1.4:chempipe-plugins"}
    release = notion.releases()["1.4"]
    fogpy = pins["1.4:fogpy"]
    assert fogpy["Name"] == "fogpy v2.6.1"
    assert fogpy["Repository"] == "fogpy"
    assert fogpy["Tag"] == "v2.6.1"
    assert fogpy["Commit"] == "abc123def4567890abc123def4567890abc123de"
    assert fogpy["Package version"] == "2.6.1"
    assert fogpy["Version"] == "1.4"
    assert fogpy["Validation"] == "not checked"
    assert fogpy["Validated at"] is None
    assert fogpy["Live in"] == ["production"]
    assert fogpy["production status"] == "deployed"
    assert fogpy["production deployed at"].startswith("2025-01-20T14:30:00")
    assert fogpy["Namespaces"] == "production: prod-v1.4"
    assert fogpy["Product version"] == [release["id"]]
    assert "Registry link" not in fogpy
    assert release["Name"] == "1.4"
    assert release["Created by"] == "platform-team"
    assert release["Notes"] == "Production release"
    assert release["Live in"] == ["production"]
    # Everything sent, nothing left queued; one write per page.
    assert not NotionChange.objects.exists()
    assert NotionPage.objects.count() == 4
    assert len(notion.server.writes()) == 4 + 2  # 4 pages, 2 schema updates
