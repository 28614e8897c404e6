"""Pins and deployments of a release: read, edited through the import service."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from registry.models import Environment
from releases.exporting import export_release, manifest_for
from releases.models import EnvironmentDeployment, Release, RepositoryPin
from tests.releases.manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db

NESTED = RELEASE_1_4.replace('name: "fogpy_utils"', 'name: "group/sub/fogpy_utils"').replace(
    'depends_on: ["fogpy_utils"]', 'depends_on: ["group/sub/fogpy_utils"]'
)


def send(client: APIClient, method: str, url: str, body: object, **headers: str):
    return getattr(client, method)(
        url, data=json.dumps(body), content_type="application/json", **headers
    )


def test_pins_list_in_manifest_order_with_state(writer: APIClient) -> None:
    import_text(NESTED)
    response = writer.get("/api/releases/1.4/pins/")
    assert response.status_code == 200
    pins = response.json()["results"]
    assert [pin["repository"] for pin in pins] == [
        "fogpy",
        "group/sub/fogpy_utils",
        "chempipe-plugins",
    ]
    assert pins[0]["depends_on"] == ["group/sub/fogpy_utils"]
    assert pins[0]["state"] in {"valid", "unchecked"}
    assert response["ETag"] == f'"{Release.objects.get().revision}"'


def test_pin_detail_with_slashes_in_the_name(writer: APIClient) -> None:
    import_text(NESTED)
    response = writer.get("/api/releases/1.4/pins/group/sub/fogpy_utils/")
    assert response.status_code == 200
    assert response.json()["tag"] == "v1.4.2"
    assert writer.get("/api/releases/1.4/pins/group/nope/").status_code == 404


def test_pin_patch_goes_through_the_importer(writer: APIClient) -> None:
    import_text(NESTED)
    revision = Release.objects.get().revision
    response = send(
        writer,
        "patch",
        "/api/releases/1.4/pins/group/sub/fogpy_utils/",
        {"tag": "v1.4.3", "package_version": "1.4.3", "state": "valid"},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["tag"] == "v1.4.3"
    assert response["ETag"] == f'"{revision + 1}"'
    entry = manifest_for("1.4").repository("group/sub/fogpy_utils")
    assert entry is not None and entry.tag == "v1.4.3"
    pin = RepositoryPin.objects.get(repository__name="group/sub/fogpy_utils")
    record = pin.history.latest()
    assert record.history_user.username == "iac-pipeline"
    assert record.history_change_reason.startswith("imported from api PATCH")


def test_pin_patch_findings_follow(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    response = send(writer, "patch", "/api/releases/1.4/pins/fogpy/", {"package_version": "9.0"})
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "invalid"
    assert body["findings"][0]["path"] == "repositories[0].package_version"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"tag": ""}, "tag"),
        ({"commit_sha": 12}, "commit_sha"),
        ({"depends_on": ["nowhere"]}, "depends_on[0]"),
        ({"name": "other"}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_pin_patch_bad_values_are_located_and_change_nothing(
    writer: APIClient, body: dict, path: str
) -> None:
    import_text(RELEASE_1_4)
    before = export_release("1.4")
    response = send(writer, "patch", "/api/releases/1.4/pins/fogpy/", body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["path"] == path
    assert export_release("1.4") == before


def test_pin_patch_404_and_403(writer: APIClient, reader: APIClient) -> None:
    import_text(RELEASE_1_4)
    assert send(writer, "patch", "/api/releases/1.4/pins/nope/", {"tag": "v"}).status_code == 404
    assert send(writer, "patch", "/api/releases/9.9/pins/fogpy/", {"tag": "v"}).status_code == 404
    assert send(reader, "patch", "/api/releases/1.4/pins/fogpy/", {"tag": "v"}).status_code == 403


def test_deployments_list_and_detail(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    listed = writer.get("/api/releases/1.4/deployments/").json()["results"]
    assert listed == [
        {
            "environment": "production",
            "namespace": "prod-v1.4",
            "deployed_at": "2025-01-20T14:30:00Z",
            "status": "deployed",
        }
    ]
    assert writer.get("/api/releases/1.4/deployments/production/").json() == listed[0]
    assert writer.get("/api/releases/1.4/deployments/staging/").status_code == 404


def test_put_deployment_creates_an_unknown_environment(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    response = send(
        writer,
        "put",
        "/api/releases/1.4/deployments/eu-west-canary/",
        {
            "namespace": "canary-v1.4",
            "deployed_at": "2025-02-01T09:00:00+01:00",
            "status": "in_progress",
        },
    )
    assert response.status_code == 201, response.content
    assert response.json() == {
        "environment": "eu-west-canary",
        "namespace": "canary-v1.4",
        "deployed_at": "2025-02-01T08:00:00Z",
        "status": "in_progress",
    }
    assert Environment.objects.filter(name="eu-west-canary").exists()
    deployment = EnvironmentDeployment.objects.get(environment__name="eu-west-canary")
    record = deployment.history.latest()
    assert record.history_user.username == "iac-pipeline"
    again = send(
        writer,
        "put",
        "/api/releases/1.4/deployments/eu-west-canary/",
        {"namespace": "canary-v1.4", "deployed_at": "2025-02-01T08:00:00Z", "status": "deployed"},
    )
    assert again.status_code == 200
    assert again.json()["status"] == "deployed"


def test_patch_deployment_changes_only_what_is_given(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    response = send(
        writer, "patch", "/api/releases/1.4/deployments/production/", {"status": "retired"}
    )
    assert response.status_code == 200
    assert response.json() == {
        "environment": "production",
        "namespace": "prod-v1.4",
        "deployed_at": "2025-01-20T14:30:00Z",
        "status": "retired",
    }
    missing = send(writer, "patch", "/api/releases/1.4/deployments/qa/", {"status": "retired"})
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("url", "body", "path"),
    [
        ("/api/releases/1.4/deployments/staging/", {}, "namespace"),
        ("/api/releases/1.4/deployments/staging/", {"namespace": "bad space"}, "namespace"),
        ("/api/releases/1.4/deployments/staging/", {"namespace": "s", "status": "live"}, "status"),
        (
            "/api/releases/1.4/deployments/staging/",
            {"namespace": "s", "deployed_at": "2025-01-20"},
            "deployed_at",
        ),
        ("/api/releases/1.4/deployments/staging/", {"namespace": "s", "where": 1}, "where"),
    ],
)
def test_bad_deployments_are_located_and_change_nothing(
    writer: APIClient, url: str, body: dict, path: str
) -> None:
    import_text(RELEASE_1_4)
    before = export_release("1.4")
    response = send(writer, "put", url, body)
    assert response.status_code == 400, response.content
    assert response.json()["errors"][0]["path"] == path
    assert export_release("1.4") == before
    assert not Environment.objects.filter(name="staging").exists()


def test_deployment_writes_need_the_write_scope(reader: APIClient) -> None:
    import_text(RELEASE_1_4)
    response = send(reader, "put", "/api/releases/1.4/deployments/staging/", {"namespace": "s"})
    assert response.status_code == 403
    assert (
        send(reader, "put", "/api/releases/9.9/deployments/x/", {"namespace": "s"}).status_code
        == 403
    )


def test_a_deployment_time_with_a_large_offset_is_stored_in_utc(writer: APIClient) -> None:
    # PostgreSQL refuses offsets beyond ±15:59; RFC 3339 (and Python) allow up to ±23:59.
    import_text(RELEASE_1_4)
    response = send(
        writer,
        "put",
        "/api/releases/1.4/deployments/staging/",
        {"namespace": "staging-v1.4", "deployed_at": "2025-02-01T20:00:00+17:05"},
    )
    assert response.status_code == 201, response.content
    assert response.json()["deployed_at"] == "2025-02-01T02:55:00Z"
