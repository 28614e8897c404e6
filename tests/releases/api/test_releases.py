"""Releases and their manifests over the API: every write through the import service."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from releases.changes import ReleaseChange, release_changed
from releases.exporting import export_release
from releases.models import Release
from tests.releases.manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db

SHA = "4f2a9c1e0b7d3a5f6e8c9b0a1d2e3f4a5b6c7d8e"


def manifest(version: str = "2.0", **extra: object) -> dict:
    tree: dict = {
        "version": version,
        "created_at": "2025-06-01T08:00:00Z",
        "created_by": "Zoë Ødegård",
        "repositories": [
            {
                "name": "pytroll/fogpy",
                "tag": "v2.7.0",
                "commit_sha": SHA,
                "package_version": "2.7.0",
            },
            {
                "name": "gitlab-group/sub/geo-tools",
                "tag": "v0.3.1",
                "commit_sha": None,
                "package_version": None,
                "depends_on": ["pytroll/fogpy"],
            },
        ],
    }
    tree.update(extra)
    return tree


def post_json(client: APIClient, url: str, body: object, method: str = "post", **headers: str):
    return getattr(client, method)(
        url, data=json.dumps(body), content_type="application/json", **headers
    )


# --- list ---------------------------------------------------------------------------------


def test_list_pages_and_summaries(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    response = writer.get("/api/releases/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    (item,) = body["results"]
    assert item["version"] == "1.4"
    assert item["pin_count"] == 3
    assert item["validation"]["pins"]["valid"] + item["validation"]["pins"]["unchecked"] == 3
    assert item["environments"]["production"]["namespace"] == "prod-v1.4"
    assert item["links"]["detail"].endswith("/api/releases/1.4/")


def test_list_filters(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    post_json(writer, "/api/releases/", manifest("2.0"))
    post_json(writer, "/api/releases/", manifest("2.1", repositories=[{"name": "x", "tag": "v1"}]))

    def versions(query: str) -> list[str]:
        response = writer.get(f"/api/releases/?{query}")
        assert response.status_code == 200, response.content
        return sorted(item["version"] for item in response.json()["results"])

    assert versions("repository=pytroll/fogpy") == ["2.0"]
    assert versions("tag=v2.6.1") == ["1.4"]
    assert versions("environment=production") == ["1.4"]
    assert versions("validation=invalid") == []
    assert versions("repository=nope") == []
    response = writer.get("/api/releases/?validation=bogus")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "validation"


def test_list_validation_filter_takes_the_worst_pin(writer: APIClient) -> None:
    bad = manifest("3.0")
    bad["repositories"][0]["commit_sha"] = "not-a-sha"
    assert post_json(writer, "/api/releases/", bad).status_code == 201
    assert post_json(writer, "/api/releases/", manifest("3.1")).status_code == 201
    invalid = writer.get("/api/releases/?validation=invalid").json()["results"]
    assert [item["version"] for item in invalid] == ["3.0"]
    assert invalid[0]["validation"]["state"] == "invalid"


# --- detail, create, replace, patch, delete -----------------------------------------------------


def test_detail_is_the_manifest_tree_with_read_only_fields(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    response = writer.get("/api/releases/1.4/")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == "1.4"
    assert body["metadata"] == {"notes": "Production release", "ticket": "REL-140"}
    assert [pin["name"] for pin in body["repositories"]] == [
        "fogpy",
        "fogpy_utils",
        "chempipe-plugins",
    ]
    assert {pin["state"] for pin in body["repositories"]} <= {"valid", "unchecked"}
    assert response["ETag"] == f'"{body["revision"]}"'
    assert body["links"]["manifest"].endswith("/api/releases/1.4/manifest")


def test_unknown_release_is_404(writer: APIClient) -> None:
    for url in (
        "/api/releases/9.9/",
        "/api/releases/9.9/manifest",
        "/api/releases/9.9/pins/",
        "/api/releases/9.9/deployments/",
        "/api/releases/9.9/history/",
        "/api/releases/9.9/evidence",
    ):
        assert writer.get(url).status_code == 404, url
    assert writer.delete("/api/releases/9.9/").status_code == 404
    assert post_json(writer, "/api/releases/9.9/", {"tag": "x"}, "patch").status_code == 404


def test_create_from_a_json_body(writer: APIClient) -> None:
    seen: list[ReleaseChange] = []

    def receiver(sender: object, change: ReleaseChange, **kwargs: object) -> None:
        seen.append(change)

    release_changed.connect(receiver)
    try:
        response = post_json(writer, "/api/releases/", manifest())
    finally:
        release_changed.disconnect(receiver)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == "2.0"
    assert body["repositories"][1]["name"] == "gitlab-group/sub/geo-tools"
    assert response["ETag"] == f'"{body["revision"]}"'
    (change,) = seen
    assert change.release == "created"
    assert change.actor == "iac-pipeline"
    release = Release.objects.get(version="2.0")
    record = release.history.latest()
    assert record.history_user.username == "iac-pipeline"
    assert "api POST /api/releases/" in record.history_change_reason


def test_create_refuses_an_existing_version_and_changes_nothing(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    before = export_release("1.4")
    response = post_json(writer, "/api/releases/", manifest("1.4"))
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "path": "version",
        "code": "exists",
        "message": "release 1.4 exists; PUT /api/releases/1.4/ replaces it",
    }
    assert export_release("1.4") == before


def test_a_bad_body_gets_located_errors_and_changes_nothing(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    before = export_release("1.4")
    revision = Release.objects.get(version="1.4").revision
    body = manifest("1.4")
    body["repositories"][1]["tagg"] = "v1"
    body["repositories"][0]["tag"] = 12
    response = post_json(writer, "/api/releases/1.4/", body, "put")
    assert response.status_code == 400
    errors = {error["path"]: error for error in response.json()["errors"]}
    assert "repositories[0].tag" in errors
    assert "repositories[1].tagg" in errors
    assert "did you mean" in errors["repositories[1].tagg"]["message"]
    assert export_release("1.4") == before
    assert Release.objects.get(version="1.4").revision == revision


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"{not json", ""),
        (b'{"version": "1.4", "version": "1.5", "repositories": []}', "version"),
        (b'{"version": 1.10, "repositories": [{"name": "a", "tag": "v"}]}', "version"),
        (b"[]", ""),
    ],
)
def test_unreadable_json_is_refused_with_a_location(
    writer: APIClient, body: bytes, path: str
) -> None:
    response = writer.post("/api/releases/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == path
    assert not Release.objects.exists()


def test_put_replaces_and_answers_with_the_release(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    detail = writer.get("/api/releases/1.4/").json()
    # A client sends back what it read, edited: the read-only fields are ignored.
    detail["repositories"] = detail["repositories"][:2]
    detail["repositories"][0]["tag"] = "v2.6.2"
    detail["repositories"][0]["package_version"] = "2.6.2"
    response = post_json(writer, "/api/releases/1.4/", detail, "put")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [pin["name"] for pin in body["repositories"]] == ["fogpy", "fogpy_utils"]
    assert body["revision"] == detail["revision"] + 1
    assert "chempipe-plugins" not in export_release("1.4")


def test_put_of_a_new_version_creates_it(writer: APIClient) -> None:
    response = post_json(writer, "/api/releases/2.0/", manifest("2.0"), "put")
    assert response.status_code == 201


def test_put_with_another_version_in_the_body_is_refused(writer: APIClient) -> None:
    response = post_json(writer, "/api/releases/2.0/", manifest("2.1"), "put")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "version"
    assert not Release.objects.exists()


def test_patch_merges_into_the_stored_manifest(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    response = post_json(
        writer,
        "/api/releases/1.4/",
        {"metadata": {"ticket": None, "owner": "Zoë"}, "created_by": None},
        "patch",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["metadata"] == {"notes": "Production release", "owner": "Zoë"}
    assert "created_by" not in body
    assert len(body["repositories"]) == 3


def test_patch_with_a_bad_value_is_located_and_changes_nothing(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    before = export_release("1.4")
    response = post_json(writer, "/api/releases/1.4/", {"created_at": "yesterday"}, "patch")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "created_at"
    assert export_release("1.4") == before


def test_dry_run_answers_the_diff_and_writes_nothing(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    before = export_release("1.4")
    response = post_json(
        writer, "/api/releases/1.4/?dry_run=1", {"created_by": "someone else"}, "patch"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True
    assert body["diff"]["release"]["created_by"] == {
        "old": "platform-team",
        "new": "someone else",
    }
    assert export_release("1.4") == before


def test_strict_refuses_error_findings(writer: APIClient) -> None:
    bad = manifest("2.0")
    bad["repositories"][0]["commit_sha"] = "zzz"
    response = post_json(writer, "/api/releases/?strict=1", bad)
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "repositories[0].commit_sha"
    assert not Release.objects.exists()


def test_delete_removes_the_release_and_history_names_the_token(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    release = Release.objects.get(version="1.4")
    response = writer.delete("/api/releases/1.4/")
    assert response.status_code == 204
    assert not Release.objects.filter(version="1.4").exists()
    record = Release.history.filter(id=release.pk).latest()
    assert record.history_type == "-"
    assert record.history_user.username == "iac-pipeline"
    assert record.history_change_reason == "deleted through api DELETE /api/releases/1.4/"


# --- ETag and If-Match -------------------------------------------------------------------------


def test_a_stale_if_match_gets_412_and_changes_nothing(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    etag = writer.get("/api/releases/1.4/")["ETag"]
    first = post_json(
        writer, "/api/releases/1.4/", {"created_by": "a"}, "patch", HTTP_IF_MATCH=etag
    )
    assert first.status_code == 200
    assert first["ETag"] != etag
    before = export_release("1.4")
    for method, url, body in (
        ("patch", "/api/releases/1.4/", {"created_by": "b"}),
        ("put", "/api/releases/1.4/", manifest("1.4")),
        ("patch", "/api/releases/1.4/pins/fogpy/", {"tag": "v9"}),
        ("put", "/api/releases/1.4/deployments/staging/", {"namespace": "s"}),
        ("patch", "/api/releases/1.4/deployments/production/", {"status": "retired"}),
    ):
        response = post_json(writer, url, body, method, HTTP_IF_MATCH=etag)
        assert response.status_code == 412, (method, url)
    assert writer.delete("/api/releases/1.4/", HTTP_IF_MATCH=etag).status_code == 412
    assert export_release("1.4") == before
    current = first["ETag"]
    response = post_json(
        writer, "/api/releases/1.4/", {"created_by": "b"}, "patch", HTTP_IF_MATCH=current
    )
    assert response.status_code == 200


def test_if_match_on_a_release_that_does_not_exist_is_412(writer: APIClient) -> None:
    response = post_json(writer, "/api/releases/2.0/", manifest("2.0"), "put", HTTP_IF_MATCH='"1"')
    assert response.status_code == 412
    assert not Release.objects.exists()


# --- the manifest endpoint ---------------------------------------------------------------------


def test_manifest_get_is_canonical_json_or_yaml(writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    as_json = writer.get("/api/releases/1.4/manifest")
    assert as_json.status_code == 200
    assert as_json["Content-Type"].startswith("application/json")
    assert as_json.content.decode() == export_release("1.4", "json")
    revision = Release.objects.get(version="1.4").revision
    assert as_json["ETag"] == f'"{revision}"'
    for response in (
        writer.get("/api/releases/1.4/manifest", HTTP_ACCEPT="application/yaml"),
        writer.get("/api/releases/1.4/manifest?format=yaml"),
    ):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/yaml")
        assert response.content.decode() == export_release("1.4", "yaml")


def test_manifest_put_yaml_creates_then_updates(writer: APIClient) -> None:
    response = writer.put(
        "/api/releases/1.4/manifest", data=RELEASE_1_4, content_type="application/yaml"
    )
    assert response.status_code == 201, response.content
    assert response.json()["action"] == "created"
    again = writer.put(
        "/api/releases/1.4/manifest", data=RELEASE_1_4, content_type="application/yaml"
    )
    assert again.status_code == 200
    assert again.json()["action"] == "unchanged"
    assert again["ETag"] == response["ETag"]
    changed = RELEASE_1_4.replace('tag: "v1.4.2"', 'tag: "v1.4.3"')
    updated = writer.put(
        "/api/releases/1.4/manifest", data=changed, content_type="application/yaml"
    )
    assert updated.json()["action"] == "updated"
    assert updated.json()["diff"]["pins"]["changed"]["fogpy_utils"]["tag"] == {
        "old": "v1.4.2",
        "new": "v1.4.3",
    }


def test_manifest_put_json_body(writer: APIClient) -> None:
    response = post_json(writer, "/api/releases/2.0/manifest", manifest("2.0"), "put")
    assert response.status_code == 201
    assert Release.objects.filter(version="2.0").exists()


def test_manifest_put_dry_run_and_strict(writer: APIClient) -> None:
    response = writer.put(
        "/api/releases/1.4/manifest?dry_run=1", data=RELEASE_1_4, content_type="application/yaml"
    )
    assert response.status_code == 200
    assert response.json()["dry_run"] is True
    assert response.json()["action"] == "created"
    assert not Release.objects.exists()
    bad = RELEASE_1_4.replace('package_version: "2.6.1"', 'package_version: "9.9.9"')
    strict = writer.put(
        "/api/releases/1.4/manifest?strict=1", data=bad, content_type="application/yaml"
    )
    assert strict.status_code == 400
    assert strict.json()["errors"][0]["path"] == "repositories[0].package_version"
    assert not Release.objects.exists()


def test_manifest_put_bad_yaml_is_located_with_its_line_and_changes_nothing(
    writer: APIClient,
) -> None:
    import_text(RELEASE_1_4)
    before = export_release("1.4")
    bad = RELEASE_1_4.replace('version: "1.4"', 'version: "1.4"\nunexpected: 1')
    response = writer.put("/api/releases/1.4/manifest", data=bad, content_type="application/yaml")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["path"] == "unexpected"
    assert error["line"] == 2
    assert export_release("1.4") == before
    coerced = RELEASE_1_4.replace('version: "1.4"', "version: 1.40")
    response = writer.put(
        "/api/releases/1.4/manifest", data=coerced, content_type="application/yaml"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "version"
    assert "quote" in response.json()["errors"][0]["message"]


def test_manifest_put_yaml_error_answered_in_yaml_when_asked(writer: APIClient) -> None:
    response = writer.put(
        "/api/releases/1.4/manifest?format=yaml",
        data="version: [",
        content_type="application/yaml",
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/yaml")
    assert b"errors:" in response.content


def test_read_token_cannot_put_a_manifest(reader: APIClient) -> None:
    response = reader.put(
        "/api/releases/1.4/manifest", data=RELEASE_1_4, content_type="application/yaml"
    )
    assert response.status_code == 403
    assert not Release.objects.exists()


def test_anonymous_gets_401_everywhere(anonymous: APIClient, writer: APIClient) -> None:
    import_text(RELEASE_1_4)
    for url in (
        "/api/releases/",
        "/api/releases/1.4/",
        "/api/releases/1.4/manifest",
        "/api/releases/1.4/pins/",
        "/api/releases/1.4/pins/fogpy/",
        "/api/releases/1.4/deployments/",
        "/api/releases/1.4/deployments/production/",
        "/api/releases/1.4/diff/1.4",
        "/api/releases/1.4/history/",
        "/api/releases/1.4/evidence",
        "/api/environments/",
        "/api/environments/production/",
        "/api/schema/",
    ):
        assert anonymous.get(url).status_code == 401, url
    assert anonymous.delete("/api/releases/1.4/").status_code == 401
    assert (
        anonymous.put(
            "/api/releases/1.4/manifest", data=RELEASE_1_4, content_type="application/yaml"
        ).status_code
        == 401
    )


def test_times_with_offsets_beyond_postgresqls_range_are_stored_in_utc(writer: APIClient) -> None:
    body = manifest("2.0", created_at="2025-06-01T20:00:00+17:05")
    body["environments"] = {"qa": {"namespace": "qa-2", "deployed_at": "2025-06-02T00:00:00-18:00"}}
    response = post_json(writer, "/api/releases/", body)
    assert response.status_code == 201, response.content
    assert response.json()["created_at"] == "2025-06-01T02:55:00Z"
    assert response.json()["environments"]["qa"]["deployed_at"] == "2025-06-02T18:00:00Z"
