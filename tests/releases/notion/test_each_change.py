"""Each kind of change reaches the local Notion with the right properties, once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from registry.models import Environment, Repository
from releases import changes
from releases.models import EnvironmentDeployment, Release, RepositoryPin
from releases.notion.models import NotionChange
from tests.admin_forms import post_back
from tests.releases.manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(notion: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """Release 1.4 in the registry and in Notion; the request log emptied."""
    with django_capture_on_commit_callbacks(execute=True):
        import_text(RELEASE_1_4)
    notion.server.reset_log()
    return notion


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Any:
    @contextmanager
    def run() -> Iterator[None]:
        with django_capture_on_commit_callbacks(execute=True):
            yield
        assert not NotionChange.objects.exists(), "every change sent"

    return run


def page_writes(notion: Any) -> list[str]:
    """``PATCH <page id>`` / ``POST pages`` requests that succeeded."""
    return [f"{r.method} {r.path}" for r in notion.server.writes()]


def test_a_release_update_changes_its_page_only(synced: Any, committed: Any) -> None:
    release = Release.objects.get(version="1.4")
    with committed():
        release.notes = "Zürich hotfix ✓"
        release.save()

    assert synced.releases()["1.4"]["Notes"] == "Zürich hotfix ✓"
    assert page_writes(synced) == [f"PATCH /v1/pages/{synced.releases()['1.4']['id']}"]


def test_a_deleted_release_sends_every_page_to_the_trash(synced: Any, committed: Any) -> None:
    with committed():
        Release.objects.get(version="1.4").delete()

    assert synced.pins() == {}
    assert synced.releases() == {}
    assert len(page_writes(synced)) == 4
    assert all(r.body == {"in_trash": True} for r in synced.server.writes())


def test_an_added_pin_makes_one_page(synced: Any, committed: Any) -> None:
    release = Release.objects.get(version="1.4")
    with committed():
        RepositoryPin.objects.create(
            release=release,
            repository=Repository.objects.create(name="org/weather-ä"),
            tag="v0.1.0",
            commit_sha="f" * 40,
            position=9,
        )

    page = synced.pins()["1.4:org/weather-ä"]
    assert page["Name"] == "org/weather-ä v0.1.0"
    assert page["Commit"] == "f" * 40
    assert page["Product version"] == [synced.releases()["1.4"]["id"]]
    assert page_writes(synced) == ["POST /v1/pages"]


def test_a_changed_pin_updates_its_page(synced: Any, committed: Any) -> None:
    pin = RepositoryPin.objects.get(release__version="1.4", repository__name="fogpy")
    with committed():
        pin.tag = "v2.6.2"
        pin.package_version = "2.6.2"
        pin.save()

    assert synced.pins()["1.4:fogpy"]["Name"] == "fogpy v2.6.2"
    assert synced.pins()["1.4:fogpy"]["Package version"] == "2.6.2"
    assert page_writes(synced) == [f"PATCH /v1/pages/{synced.pins()['1.4:fogpy']['id']}"]


def test_a_removed_pin_goes_to_the_trash(synced: Any, committed: Any) -> None:
    page_id = synced.pins()["1.4:chempipe-plugins"]["id"]
    with committed():
        RepositoryPin.objects.get(repository__name="chempipe-plugins").delete()

    assert "1.4:chempipe-plugins" not in synced.pins()
    assert synced.server.state.pages[page_id]["in_trash"] is True
    assert page_writes(synced) == [f"PATCH /v1/pages/{page_id}"]


def test_a_deployment_saved_shows_on_every_pin_and_the_release(synced: Any, committed: Any) -> None:
    with committed():
        EnvironmentDeployment.objects.create(
            release=Release.objects.get(version="1.4"),
            environment=Environment.objects.create(name="staging"),
            namespace="staging-v1.4",
            deployed_at=datetime(2025, 1, 18, 9, 0, tzinfo=UTC),
            position=1,
        )

    for page in synced.pins().values():
        assert page["Live in"] == ["production", "staging"]
        assert page["staging status"] == "deployed"
        assert page["staging deployed at"].startswith("2025-01-18T09:00:00")
        assert page["Namespaces"] == "production: prod-v1.4; staging: staging-v1.4"
    assert synced.releases()["1.4"]["Live in"] == ["production", "staging"]
    # The new environment's two properties, then one write per page.
    assert page_writes(synced).count("POST /v1/pages") == 0
    assert len([w for w in page_writes(synced) if w.startswith("PATCH /v1/pages/")]) == 4


def test_a_deployment_recorded_in_the_admin_reaches_notion(
    synced: Any, committed: Any, client: Client, django_user_model: Any
) -> None:
    client.force_login(django_user_model.objects.create_superuser("admin", "a@example.org", "pw"))
    deployment = EnvironmentDeployment.objects.get(environment__name="production")
    url = reverse("admin:releases_environmentdeployment_change", args=[deployment.pk])
    with committed():
        post_back(client, url, status="retired")

    for page in synced.pins().values():
        assert page["production status"] == "retired"
        assert page["Live in"] == []
    assert len(page_writes(synced)) == 4


def test_a_validation_result_shows_on_the_pin_and_the_release(synced: Any, committed: Any) -> None:
    checked = datetime(2025, 2, 1, 8, 0, tzinfo=UTC)
    with committed(), changes.batch(changes.VALIDATION):
        for pin in RepositoryPin.objects.filter(release__version="1.4"):
            pin.validated_at = checked
            if pin.repository.name == "fogpy":
                pin.findings = [
                    {"code": "tag-missing", "severity": "error", "path": "", "message": "gone"}
                ]
            pin.save()

    pins = synced.pins()
    assert pins["1.4:fogpy"]["Validation"] == "invalid"
    assert pins["1.4:fogpy_utils"]["Validation"] == "valid"
    assert pins["1.4:fogpy_utils"]["Validated at"].startswith("2025-02-01T08:00:00")
    assert synced.releases()["1.4"]["Validation"] == "invalid"
    assert len(page_writes(synced)) == 4


def test_without_a_token_changes_queue_and_nothing_is_sent(
    synced: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.NOTION_TOKEN = None
    with django_capture_on_commit_callbacks(execute=True):
        RepositoryPin.objects.get(repository__name="fogpy").delete()

    assert synced.server.requests == []
    assert {"", "fogpy"} <= set(NotionChange.objects.values_list("repository", flat=True))


def test_long_values_are_cut_with_a_marker(synced: Any, committed: Any) -> None:
    release = Release.objects.get(version="1.4")
    with committed():
        release.notes = "ü" * 5000
        release.save()

    notes = synced.releases()["1.4"]["Notes"]
    assert len(notes) == 2000
    assert notes.endswith("[…cut]")
