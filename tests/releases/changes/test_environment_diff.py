"""Two environments side by side, now and at past moments (the moments are read between
writes, never waited for)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from releases.importing import import_manifests
from releases.manifests import format_timestamp, parse_manifest
from tests.releases.api.conftest import token_client
from tests.releases.manifests import generated_manifest

from .world import ChangesWorld

pytestmark = pytest.mark.django_db


def send(client: APIClient, method: str, url: str, body: object) -> None:
    response = getattr(client, method)(url, data=json.dumps(body), content_type="application/json")
    assert response.status_code < 300, response.content


def versions(items: list[dict]) -> list[str]:
    return [item["version"] for item in items]


@pytest.mark.git
def test_production_against_staging_now_and_at_a_past_moment(world: ChangesWorld, reader):
    writer = token_client("iac-pipeline", "write")
    body = reader.get("/api/environments/production/diff/staging").json()

    assert versions(body["a"]["releases"]) == ["1.3", "1.4"]
    assert body["a"]["newest"] == "1.4" and body["b"]["newest"] == "1.5"
    assert versions(body["only_in_a"]) == ["1.3", "1.4"]
    assert versions(body["only_in_b"]) == ["1.5"]
    assert body["in_both"] == [] and body["compared"] is True
    pins = {pin["repository"]: pin for pin in body["pins"]}
    assert pins["openstack/nova"] == {
        "repository": "openstack/nova",
        "status": "changed",
        "changed": ["commit_sha", "tag"],
        "a": {
            "tag": "v1.4.0",
            "commit_sha": world.shas["openstack/nova 1.4"],
            "package_version": None,
            "url": world.urls["openstack/nova"],
            "depends_on": [],
        },
        "b": {
            "tag": "v1.5.0",
            "commit_sha": world.shas["openstack/nova 1.5"],
            "package_version": None,
            "url": world.urls["openstack/nova"],
            "depends_on": [],
        },
    }
    assert pins["acme/newcomer"]["status"] == "added" and pins["acme/newcomer"]["a"] is None
    assert pins["acme/retiree"]["status"] == "removed" and pins["acme/retiree"]["b"] is None
    assert pins["acme/steady"]["changed"] == ["tag"]  # same commit, new tag
    # Every pin carries a new tag; all nine repositories of 1.4 and 1.5 differ.
    assert (len(body["pins"]), body["same_pins"]) == (9, 0)

    before_promotion = format_timestamp(timezone.now())
    send(
        writer,
        "put",
        "/api/releases/1.5/deployments/production/",
        {"namespace": "prod-v1.5", "status": "deployed", "deployed_at": "2025-02-10T08:00:00Z"},
    )
    send(writer, "patch", "/api/releases/1.3/deployments/production/", {"status": "retired"})
    send(writer, "patch", "/api/releases/1.4/deployments/production/", {"status": "retired"})

    now = reader.get("/api/environments/production/diff/staging").json()
    assert versions(now["a"]["releases"]) == ["1.5"]
    assert (now["only_in_a"], now["only_in_b"], now["in_both"]) == ([], [], ["1.5"])
    assert (now["pins"], now["same_pins"]) == ([], 8)  # 1.5 against itself

    then = reader.get(f"/api/environments/production/diff/staging?a_at={before_promotion}").json()
    assert then["a"]["at"] == before_promotion
    assert versions(then["only_in_a"]) == ["1.3", "1.4"]
    assert then["a"]["newest"] == "1.4" and len(then["pins"]) == 9
    assert then["pins"] == body["pins"]

    # One environment against itself yesterday and today (``at`` sets both, a side overrides).
    itself = reader.get(
        f"/api/environments/production/diff/production?at={before_promotion}"
        f"&b_at={format_timestamp(timezone.now())}"
    ).json()
    assert versions(itself["only_in_a"]) == ["1.3", "1.4"]
    assert versions(itself["only_in_b"]) == ["1.5"]


def test_an_environment_running_nothing_has_no_pins_to_compare(reader):
    from tests.releases.manifests import RELEASE_1_4, import_text

    import_text(RELEASE_1_4)
    import_text(
        RELEASE_1_4.replace('version: "1.4"', 'version: "1.5"').replace("production:", "staging:"),
        source="manifests/v1.5.yaml",
    )
    token_client("iac-pipeline", "write").patch(
        "/api/releases/1.5/deployments/staging/",
        data=json.dumps({"status": "planned"}),
        content_type="application/json",
    )

    body = reader.get("/api/environments/production/diff/staging").json()

    assert body["compared"] is False and body["pins"] == []
    assert versions(body["only_in_a"]) == ["1.4"] and body["b"]["newest"] is None


def test_errors(reader):
    from tests.releases.manifests import RELEASE_1_4, import_text

    import_text(RELEASE_1_4)
    assert reader.get("/api/environments/production/diff/nowhere").status_code == 404
    assert reader.get("/api/environments/nowhere/diff/production").status_code == 404
    for parameter in ("at", "a_at", "b_at"):
        response = reader.get(f"/api/environments/production/diff/production?{parameter}=yesterday")
        assert response.status_code == 400
        assert response.json()["errors"][0]["path"] == parameter
    assert APIClient().get("/api/environments/production/diff/production").status_code == 401


def make_releases(count: int, pins: int) -> None:
    # Every generated release is live in production and staging: ``count`` side by side.
    texts = [generated_manifest(pins, f"{count}.{i}") for i in range(count)]
    import_manifests(
        [(f"v{i}.yaml", parse_manifest(text, source=f"v{i}.yaml")) for i, text in enumerate(texts)]
    )


def diff_queries(client: APIClient, query: str = "") -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/api/environments/production/diff/staging{query}")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["compared"] is True
    return len(captured.captured_queries)


def admin_queries(client: Any, query: str = "") -> int:
    url = reverse("admin:releases_release_environment_diff") + "?a=production&b=staging" + query
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    assert "pins differ" in response.content.decode()
    return len(captured.captured_queries)


def test_query_counts_do_not_grow_with_live_releases(reader, admin_client):
    reader.get("/api/releases/")  # the token's first use is recorded once
    make_releases(10, 20)
    moment = format_timestamp(timezone.now())
    small = (
        diff_queries(reader),
        diff_queries(reader, f"?at={moment}"),
        admin_queries(admin_client),
        admin_queries(admin_client, f"&a_at={moment.rstrip('Z')}"),
    )
    make_releases(200, 20)
    moment = format_timestamp(timezone.now())
    large = (
        diff_queries(reader),
        diff_queries(reader, f"?at={moment}"),
        admin_queries(admin_client),
        admin_queries(admin_client, f"&a_at={moment.rstrip('Z')}"),
    )

    assert large == small
    body = reader.get("/api/environments/production/diff/staging").json()
    assert len(body["in_both"]) == 210
    assert small[0] <= 12 and small[1] <= 24
