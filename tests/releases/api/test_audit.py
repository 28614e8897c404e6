"""What was live where and when, diffs, history and the evidence package."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from releases.manifests import format_timestamp
from tests.releases.manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db

SHA = "0123456789abcdef0123456789abcdef01234567"


def send(client: APIClient, method: str, url: str, body: object, **headers: str):
    response = getattr(client, method)(
        url, data=json.dumps(body), content_type="application/json", **headers
    )
    assert response.status_code < 300, response.content
    return response


def release(version: str, **environments: dict) -> dict:
    return {
        "version": version,
        "environments": environments,
        "repositories": [{"name": "pytroll/satpy", "tag": f"v{version}", "commit_sha": SHA}],
    }


def live(client: APIClient, environment: str, at: str | None = None) -> list[tuple[str, str]]:
    url = f"/api/environments/{environment}/" + (f"?at={at}" if at else "")
    response = client.get(url)
    assert response.status_code == 200, response.content
    return [(item["version"], item["status"]) for item in response.json()["releases"]]


def test_environments_at_moments_in_the_past(writer: APIClient) -> None:
    before_anything = format_timestamp(timezone.now())
    send(
        writer,
        "post",
        "/api/releases/",
        release(
            "1.0",
            production={"namespace": "prod-v1-0", "deployed_at": "2025-01-01T00:00:00Z"},
        ),
    )
    one_live = format_timestamp(timezone.now())
    send(
        writer,
        "put",
        "/api/releases/1.0/deployments/staging/",
        {"namespace": "staging-v1-0", "status": "planned"},
    )
    send(writer, "post", "/api/releases/", release("2.0"))
    send(
        writer,
        "put",
        "/api/releases/2.0/deployments/production/",
        {"namespace": "prod-v2-0", "status": "in_progress"},
    )
    side_by_side = format_timestamp(timezone.now())
    send(
        writer,
        "patch",
        "/api/releases/2.0/deployments/production/",
        {"status": "deployed", "deployed_at": "2025-02-01T00:00:00Z"},
    )
    send(writer, "patch", "/api/releases/1.0/deployments/production/", {"status": "retired"})
    only_two = format_timestamp(timezone.now())
    send(writer, "patch", "/api/releases/1.0/deployments/staging/", {"status": "failed"})
    assert writer.delete("/api/releases/2.0/").status_code == 204

    assert live(writer, "production", before_anything) == []
    # Production did not exist yet at that moment: nothing was live, and the answer says when.
    answer = writer.get(f"/api/environments/production/?at={before_anything}").json()
    assert answer == {"name": "production", "at": before_anything, "releases": []}
    assert live(writer, "production", one_live) == [("1.0", "deployed")]
    assert live(writer, "production", side_by_side) == [
        ("1.0", "deployed"),
        ("2.0", "in_progress"),
    ]
    assert live(writer, "production", only_two) == [("2.0", "deployed")]
    assert live(writer, "production") == []
    # Planned and failed are never live.
    for moment in (one_live, side_by_side, only_two, None):
        assert live(writer, "staging", moment) == []

    listed = writer.get(f"/api/environments/?at={side_by_side}").json()["results"]
    assert [(item["name"], len(item["releases"])) for item in listed] == [
        ("production", 2),
        ("staging", 0),
    ]
    assert listed[0]["at"] == side_by_side
    response = writer.get(f"/api/environments/production/?at={side_by_side}").json()
    assert response["releases"][1] == {
        "version": "2.0",
        "namespace": "prod-v2-0",
        "status": "in_progress",
        "deployed_at": None,
    }


def test_environment_errors(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    assert writer.get("/api/environments/nowhere/").status_code == 404
    response = writer.get("/api/environments/production/?at=yesterday")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "at"


def test_diff_field_by_field(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    newer = RELEASE_1_4.replace('version: "1.4"', 'version: "1.5"').replace(
        'tag: "v1.4.2"', 'tag: "v1.5.0"'
    )
    import_text(newer, source="manifests/v1.5.yaml")
    response = writer.get("/api/releases/1.4/diff/1.5")
    assert response.status_code == 200
    body = response.json()
    assert body["old_version"] == "1.4" and body["new_version"] == "1.5"
    assert body["pins"]["changed"] == {"fogpy_utils": {"tag": {"old": "v1.4.2", "new": "v1.5.0"}}}
    assert body["pins"]["added"] == [] and body["pins"]["removed"] == []
    assert writer.get("/api/releases/1.4/diff/9.9").status_code == 404


def test_history_names_who_when_and_from_where(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    send(writer, "patch", "/api/releases/1.4/pins/fogpy/", {"tag": "v2.6.2"})
    response = writer.get("/api/releases/1.4/history/")
    assert response.status_code == 200
    entries = response.json()["results"]
    newest = entries[0]
    assert newest["kind"] == "pin"
    assert newest["name"] == "fogpy"
    assert newest["action"] == "changed"
    assert newest["user"] == "iac-pipeline"
    assert newest["token"] == "iac-pipeline"
    assert newest["source"] == "imported from api PATCH /api/releases/1.4/pins/fogpy/"
    assert newest["changes"]["tag"] == {"old": "v2.6.1", "new": "v2.6.2"}
    first = entries[-1]
    assert first["action"] == "created"
    assert first["user"] is None
    assert first["source"] == "imported from manifests/v1.4.yaml"
    kinds = {entry["kind"] for entry in entries}
    assert kinds == {"release", "pin", "deployment"}


def test_evidence_is_the_same_bytes_for_the_same_state(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    first = writer.get("/api/releases/1.4/evidence")
    assert first.status_code == 200
    body = first.json()
    package = body["package"]
    canonical = json.dumps(package, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert body["sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert package["manifest"]["version"] == "1.4"
    assert [item["repository"] for item in package["validation"]] == [
        "fogpy",
        "fogpy_utils",
        "chempipe-plugins",
    ]
    assert package["deployments"][0]["name"] == "production"
    assert writer.get("/api/releases/1.4/evidence").content == first.content
    send(writer, "patch", "/api/releases/1.4/deployments/production/", {"status": "retired"})
    assert writer.get("/api/releases/1.4/evidence").json()["sha256"] != body["sha256"]
