"""A release reaches the local Notion through the real notion-client, as CONTRACT §4 says."""

from __future__ import annotations

from typing import Any

import pytest

from releases.models import Release
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


def test_a_registry_link_when_the_public_url_is_set(
    notion: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.REGISTRY_PUBLIC_URL = "https://registry.example.org"
    with django_capture_on_commit_callbacks(execute=True):
        import_text(RELEASE_1_4)

    release = Release.objects.get(version="1.4")
    link = notion.pins()["1.4:fogpy"]["Registry link"]
    assert link == f"https://registry.example.org/admin/releases/release/{release.pk}/change/"


def test_properties_the_registry_does_not_own_are_left_alone(
    notion_server: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from .notion_server import configure

    notion = configure(notion_server, settings, versions=False)
    source = notion_server.state.source_of(notion.views)
    # The team added a property of its own, and already had a "Tag" column.
    notion_server.state.update_source(
        source, {"properties": {"Owner": {"rich_text": {}}, "Tag": {"rich_text": {}}}}
    )
    with django_capture_on_commit_callbacks(execute=True):
        import_text(RELEASE_1_4)
    added = next(r.body for r in notion_server.writes() if r.path.startswith("/v1/data_sources"))
    page = notion.pins()["1.4:fogpy"]
    notion_server.state.update_page(
        page["id"],
        {"properties": {"Owner": {"rich_text": [{"type": "text", "text": {"content": "Zoë"}}]}}},
    )
    notion_server.reset_log()

    with django_capture_on_commit_callbacks(execute=True):
        import_text(RELEASE_1_4.replace('"Production release"', '"Production release 2"'))
    with django_capture_on_commit_callbacks(execute=True):
        import_text(RELEASE_1_4.replace("v2.6.1", "v2.6.1-1"))

    assert notion.pins()["1.4:fogpy"]["Owner"] == "Zoë"
    assert notion.pins()["1.4:fogpy"]["Tag"] == "v2.6.1-1"
    schema = notion_server.state.data_sources[source]["properties"]
    assert schema["Owner"]["type"] == "rich_text"
    assert "Owner" not in added["properties"]
    assert "Tag" not in added["properties"]


def test_the_local_notion_refuses_bad_properties_as_notion_does(notion: Any) -> None:
    from notion_client import APIResponseError, Client

    source = notion.server.state.source_of(notion.views)
    client = Client(auth=notion.server.token, base_url=notion.server.url, retry=False)
    parent = {"type": "data_source_id", "data_source_id": source}

    def refusal(properties: dict[str, Any]) -> str:
        with pytest.raises(APIResponseError) as refused:
            client.pages.create(parent=parent, properties=properties)
        assert refused.value.status == 400
        assert refused.value.code == "validation_error"
        return str(refused.value)

    assert refusal({"Nope": {"rich_text": []}}) == "Nope is not a property that exists."
    assert refusal({"Name": {"rich_text": []}}) == "Name is expected to be title."
    long = {"Name": {"title": [{"type": "text", "text": {"content": "x" * 2001}}]}}
    assert "should be ≤ `2000`, instead was `2001`" in refusal(long)
