"""API reads make the same number of queries whatever the number of releases and pins."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from releases.exporting import export_release
from releases.importing import import_manifests
from releases.manifests import parse_manifest
from tests.releases.manifests import generated_manifest, import_text

pytestmark = pytest.mark.django_db


def queries(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.content[:300])
    return len(captured.captured_queries)


def make_releases(count: int, pins: int) -> None:
    texts = [generated_manifest(pins, f"{count}.{i}") for i in range(count)]
    import_manifests(
        [(f"v{i}.yaml", parse_manifest(text, source=f"v{i}.yaml")) for i, text in enumerate(texts)]
    )


FILTERED = "/api/releases/?environment=production&validation=unchecked&repository=repo-0003"


def release_reads(client: APIClient, version: str) -> dict[str, int]:
    return {
        "list": queries(client, "/api/releases/"),
        "list, cached": queries(client, "/api/releases/"),
        "list filtered": queries(client, FILTERED),
        "detail": queries(client, f"/api/releases/{version}/"),
        "pins": queries(client, f"/api/releases/{version}/pins/"),
        "pin": queries(client, f"/api/releases/{version}/pins/repo-0003/"),
        "deployments": queries(client, f"/api/releases/{version}/deployments/"),
        "history": queries(client, f"/api/releases/{version}/history/"),
        "evidence": queries(client, f"/api/releases/{version}/evidence"),
        "environments": queries(client, "/api/environments/"),
        "environment at": queries(client, "/api/environments/production/?at=2030-01-01T00:00:00Z"),
    }


def test_release_reads_do_not_grow_with_releases(reader: APIClient) -> None:
    reader.get("/api/releases/")  # the token's first use is recorded once
    make_releases(10, 50)
    small = release_reads(reader, "10.3")
    make_releases(200, 50)
    large = release_reads(reader, "200.3")
    assert large == small
    assert reader.get(FILTERED).json()["count"] == 210
    # The page with its total; for entries not cached: pin states, deployments, releases.
    # Entries are cached by revision (and the token since its first use): asked again, the
    # list makes one query.
    assert small["list"] <= 4
    assert small["list, cached"] == 1
    assert small["detail"] <= 8


def test_manifest_endpoint_does_not_grow_with_pins(reader: APIClient) -> None:
    reader.get("/api/releases/")
    import_text(generated_manifest(10, "1.0"))
    import_text(generated_manifest(1000, "2.0"), source="v2.yaml")
    small = queries(reader, "/api/releases/1.0/manifest")
    large = queries(reader, "/api/releases/2.0/manifest")
    assert small == large <= 7
    # Asked again at the same revision, the text comes from the cache: one look at the release.
    assert queries(reader, "/api/releases/2.0/manifest") == large - 5
    assert queries(reader, "/api/releases/1.0/") == queries(reader, "/api/releases/2.0/")
    assert queries(reader, "/api/releases/1.0/diff/2.0") <= 6


def test_a_cached_manifest_is_never_served_after_a_change(reader: APIClient) -> None:
    import_text(generated_manifest(20, "3.0"))
    first = reader.get("/api/releases/3.0/manifest?format=yaml")
    reader.get("/api/releases/3.0/manifest?format=yaml")  # from the cache now

    changed = generated_manifest(20, "3.0").replace('tag: "v', 'tag: "release-', 1)
    import_text(changed, source="v3-changed.yaml")
    after = reader.get("/api/releases/3.0/manifest?format=yaml")

    assert after.content.decode() == export_release("3.0", "yaml") != first.content.decode()
    assert after["ETag"] != first["ETag"]
