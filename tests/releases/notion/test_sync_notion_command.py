"""``sync_notion``: pending changes, ``--full`` drift and repair, ``--dry-run``."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from releases.models import Release
from releases.notion.models import NotionChange, NotionPage
from tests.releases.manifests import RELEASE_1_4, generated_manifest, import_text

from .notion_server import configure

pytestmark = pytest.mark.django_db


def sync_notion(*args: str) -> str:
    out = StringIO()
    call_command("sync_notion", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_it_sends_what_is_queued(notion: Any, settings: Any) -> None:
    settings.NOTION_TOKEN = None  # the worker saw no token: the changes stayed queued
    import_text(RELEASE_1_4)
    assert NotionChange.objects.count() == 4
    settings.NOTION_TOKEN = notion.server.token

    assert "4 change(s) queued (dry run" in sync_notion("--dry-run")
    assert notion.server.writes() == []
    out = sync_notion()

    assert "sent: 4 created, 0 updated, 0 trashed, 0 unchanged, 0 failed" in out
    assert set(notion.pins()) == {"1.4:fogpy", "1.4:fogpy_utils", "1.4:chempipe-plugins"}
    assert not NotionChange.objects.exists()


def test_full_reports_each_kind_of_drift_then_repairs_it(
    notion: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        import_text(RELEASE_1_4)
    state = notion.server.state
    pins = notion.pins()
    # By hand in Notion: an edit, a page trashed, a page gone, a page nobody asked for.
    state.update_page(
        pins["1.4:fogpy"]["id"],
        {"properties": {"Tag": {"rich_text": [{"type": "text", "text": {"content": "v9"}}]}}},
    )
    state.update_page(pins["1.4:fogpy_utils"]["id"], {"in_trash": True})
    state.pages.pop(pins["1.4:chempipe-plugins"]["id"])
    state.page_order.remove(pins["1.4:chempipe-plugins"]["id"])
    state.create_page(
        {
            "parent": {"data_source_id": state.source_of(notion.views)},
            "properties": {
                "Registry key": {
                    "rich_text": [{"type": "text", "text": {"content": "1.4:org/ghost"}}]
                }
            },
        }
    )
    notion.server.reset_log()

    report = sync_notion("--full", "--dry-run")
    assert "stale 1.4:fogpy (Tag)" in report
    assert "trashed 1.4:fogpy_utils" in report
    assert "missing 1.4:chempipe-plugins" in report
    assert "orphaned 1.4:org/ghost" in report
    assert "dry run: nothing repaired" in report
    assert notion.server.writes() == []

    repaired = sync_notion("--full")
    assert "4 repaired" in repaired
    pins = notion.pins()
    assert set(pins) == {"1.4:fogpy", "1.4:fogpy_utils", "1.4:chempipe-plugins"}
    assert pins["1.4:fogpy"]["Tag"] == "v2.6.1"
    assert (
        NotionPage.objects.get(repository="chempipe-plugins").page_id
        == (pins["1.4:chempipe-plugins"]["id"])
    )

    notion.server.reset_log()
    again = sync_notion("--full")
    assert "drift: none; 0 repaired" in again
    assert notion.server.writes() == []


def test_a_full_reconcile_of_1000_unchanged_rows_only_reads_ten_pages(
    notion_server: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    notion = configure(notion_server, settings, versions=False)
    with django_capture_on_commit_callbacks(execute=True):
        for version in ("2.0", "2.1", "2.2", "2.3", "2.4"):
            import_text(generated_manifest(200, version=version), source=f"v{version}.yaml")
    assert len(notion.pins()) == 1000
    notion_server.reset_log()

    out = sync_notion("--full")

    assert "checked 1000 page(s); drift: none; 0 repaired" in out
    assert notion_server.writes() == []
    assert notion_server.count("POST", "/query") <= 10
    # Besides the queries: the database and its data source, read once each.
    assert len(notion_server.requests) == notion_server.count("POST", "/query") + 2


def test_unknown_versions_and_an_unconfigured_sync_exit_1(notion: Any, settings: Any) -> None:
    with pytest.raises(CommandError, match="unknown version") as unknown:
        sync_notion("7.7")
    assert unknown.value.returncode == 1
    settings.NOTION_TOKEN = None
    with pytest.raises(CommandError, match="sync is off") as off:
        sync_notion()
    assert off.value.returncode == 1


def test_a_refused_change_is_a_failure_and_stays_visible(notion: Any, settings: Any) -> None:
    settings.NOTION_TOKEN = None
    import_text(RELEASE_1_4)
    settings.NOTION_TOKEN = notion.server.token
    # Someone turned the Tag property into a number: Notion refuses the pin pages.
    call_command("sync_notion", stdout=StringIO(), stderr=StringIO())
    source = notion.server.state.data_sources[notion.server.state.source_of(notion.views)]
    source["properties"]["Tag"] = {"id": "tag1", "name": "Tag", "type": "number", "number": {}}
    # A bulk update outside any write path still reports its change (and so queues it).
    Release.objects.get(version="1.4").pins.filter(repository__name="fogpy").update(tag="v0")
    with pytest.raises(CommandError, match="1 failure") as failed:
        sync_notion()
    assert failed.value.returncode == 1
    row = NotionChange.objects.get(repository="fogpy")
    assert row.attempts == 1
    assert "Tag is expected to be number" in row.last_error
