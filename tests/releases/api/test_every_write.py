"""Every write endpoint of CONTRACT §3, refused each way a pipeline can get it wrong: no token
(401), a read token (403), a stale ``If-Match`` (412), a body the manifest rules refuse (400
located at the field), a release that does not exist (404). Each refusal changes nothing: the
stored releases export as before, at the same revision, with no validation run queued."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from releases.exporting import export_release
from releases.models import Release
from releases.validation.models import ValidationRun
from tests.releases.manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db

TREE = {
    "version": "1.4",
    "created_at": "2025-01-15T10:00:00Z",
    "repositories": [
        {"name": "pytroll/fogpy", "tag": "v2.7.0", "commit_sha": "4f2a9c1e0b7d" * 3 + "4f2a"}
    ],
}


@dataclass(frozen=True)
class Write:
    method: str
    url: str
    body: Any = None  # JSON, or text for the manifest (YAML)
    bad: Any = None  # a body refused with a located error
    path: str = ""  # where
    etag: bool = True  # takes If-Match
    unknown: str | None = None  # the URL with a release that does not exist

    def send(self, client: APIClient, body: Any = None, **headers: str) -> Any:
        body = self.body if body is None else body
        if isinstance(body, str):
            return getattr(client, self.method)(
                self.url, data=body, content_type="application/yaml", **headers
            )
        data = json.dumps(body) if body is not None else None
        return getattr(client, self.method)(
            self.url, data=data, content_type="application/json", **headers
        )


NEW = {**TREE, "version": "2.0"}
WRITES = [
    Write("post", "/api/releases/", NEW, {**NEW, "created_at": "yesterday"}, "created_at", False),
    Write(
        "put",
        "/api/releases/1.4/",
        TREE,
        {**TREE, "repositories": [{"name": "a b", "tag": "v1"}]},
        "repositories[0].name",
    ),
    Write(
        "patch",
        "/api/releases/1.4/",
        {"created_by": "release-bot"},
        {"created_by": 12},
        "created_by",
        unknown="/api/releases/9.9/",
    ),
    Write("delete", "/api/releases/1.4/", unknown="/api/releases/9.9/"),
    Write(
        "put",
        "/api/releases/1.4/manifest",
        RELEASE_1_4.replace('tag: "v2.6.1"', 'tag: "v2.6.2"'),
        RELEASE_1_4.replace('tag: "v2.6.1"', "tag: [v2.6.2]"),
        "repositories[0].tag",
    ),
    Write(
        "patch",
        "/api/releases/1.4/pins/fogpy/",
        {"tag": "v2.6.2"},
        {"commit_sha": 7},
        "commit_sha",
        unknown="/api/releases/9.9/pins/fogpy/",
    ),
    Write(
        "put",
        "/api/releases/1.4/deployments/staging/",
        {"namespace": "staging-v1.4"},
        {"namespace": "staging-v1.4", "status": "live"},
        "status",
        unknown="/api/releases/9.9/deployments/staging/",
    ),
    Write(
        "patch",
        "/api/releases/1.4/deployments/production/",
        {"status": "retired"},
        {"deployed_at": "2025-01-20"},
        "deployed_at",
        unknown="/api/releases/9.9/deployments/production/",
    ),
    Write("post", "/api/releases/1.4/validate", etag=False, unknown="/api/releases/9.9/validate"),
]
IDS = [f"{w.method.upper()} {w.url}" for w in WRITES]


def stored() -> tuple[Any, ...]:
    """What a refused write must leave as it was."""
    releases = tuple(Release.objects.order_by("version").values_list("version", "revision"))
    exports = tuple(export_release(version) for version, _ in releases)
    return releases, exports, ValidationRun.objects.count()


@pytest.fixture
def release_1_4(db: None) -> None:
    import_text(RELEASE_1_4)


@pytest.mark.parametrize("write", WRITES, ids=IDS)
def test_the_write_succeeds_with_a_write_token(
    write: Write, writer: APIClient, release_1_4: None
) -> None:
    before = stored()
    response = write.send(writer)
    assert response.status_code in (200, 201, 202, 204), response.content
    assert stored() != before


@pytest.mark.parametrize("write", WRITES, ids=IDS)
def test_no_token_gets_401_and_changes_nothing(
    write: Write, anonymous: APIClient, release_1_4: None
) -> None:
    before = stored()
    response = write.send(anonymous)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert stored() == before


@pytest.mark.parametrize("write", WRITES, ids=IDS)
def test_a_read_token_writing_gets_403_and_changes_nothing(
    write: Write, reader: APIClient, release_1_4: None
) -> None:
    before = stored()
    response = write.send(reader)
    assert response.status_code == 403
    assert "write scope" in response.json()["detail"]
    assert stored() == before


@pytest.mark.parametrize("write", [w for w in WRITES if w.etag], ids=lambda w: w.url)
def test_a_stale_if_match_gets_412_and_changes_nothing(
    write: Write, writer: APIClient, release_1_4: None
) -> None:
    stale = writer.get("/api/releases/1.4/")["ETag"]
    response = writer.patch(
        "/api/releases/1.4/", data='{"created_by": "someone else"}', content_type="application/json"
    )
    assert response.status_code == 200 and response["ETag"] != stale
    before = stored()

    answer = write.send(writer, HTTP_IF_MATCH=stale)

    assert answer.status_code == 412, answer.content
    assert stored() == before
    assert write.send(writer, HTTP_IF_MATCH=response["ETag"]).status_code in (200, 201, 204)


@pytest.mark.parametrize("write", [w for w in WRITES if w.bad is not None], ids=lambda w: w.url)
def test_a_bad_body_gets_400_located_and_changes_nothing(
    write: Write, writer: APIClient, release_1_4: None
) -> None:
    before = stored()
    response = write.send(writer, write.bad)
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert write.path in [error["path"] for error in errors], errors
    assert all(error["message"] for error in errors)
    assert stored() == before


@pytest.mark.parametrize("write", [w for w in WRITES if w.unknown], ids=lambda w: w.url)
def test_a_write_to_an_unknown_release_gets_404_and_changes_nothing(
    write: Write, writer: APIClient, release_1_4: None
) -> None:
    before = stored()
    unknown = Write(write.method, write.unknown or "", write.body)
    response = unknown.send(writer)
    assert response.status_code == 404
    assert "9.9" in response.json()["detail"]
    assert stored() == before
