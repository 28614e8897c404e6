"""A change made through the REST API reaches the local Notion with the right properties,
once."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from releases.api.models import ApiToken
from releases.notion.models import NotionChange
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
def pipeline() -> APIClient:
    cache.clear()  # the API's throttle counts live in the cache
    _token, key = ApiToken.create_token("iac-pipeline", "write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_a_deployment_recorded_through_the_api_reaches_every_pin_page_once(
    synced: Any, pipeline: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    pages_before = set(synced.pins())

    with django_capture_on_commit_callbacks(execute=True):
        response = pipeline.put(
            "/api/releases/1.4/deployments/staging/",
            {"namespace": "staging-v1.4", "deployed_at": "2025-01-18T09:00:00Z"},
            format="json",
        )

    assert response.status_code == 201, response.content
    assert not NotionChange.objects.exists(), "every change sent"
    pins = synced.pins()
    assert set(pins) == pages_before == {"1.4:fogpy", "1.4:fogpy_utils", "1.4:chempipe-plugins"}
    for page in pins.values():
        assert page["staging status"] == "deployed"
        assert page["staging deployed at"].startswith("2025-01-18T09:00:00")
        assert page["Live in"] == ["production", "staging"]
        assert page["Namespaces"] == "production: prod-v1.4; staging: staging-v1.4"
    assert synced.releases()["1.4"]["Live in"] == ["production", "staging"]
    writes = [f"{r.method} {r.path}" for r in synced.server.writes()]
    assert "POST /v1/pages" not in writes  # no duplicate page
    page_patches = [w for w in writes if w.startswith("PATCH /v1/pages/")]
    expected = {f"PATCH /v1/pages/{page['id']}" for page in pins.values()}
    expected.add(f"PATCH /v1/pages/{synced.releases()['1.4']['id']}")
    assert sorted(page_patches) == sorted(expected)  # one write per page
