"""What a release brings, commit by commit, read from real repositories on 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from tests.releases.api.conftest import token_client

from .world import ChangesWorld, store_releases

pytestmark = [pytest.mark.django_db, pytest.mark.git]


def by_repository(body: dict) -> dict[str, dict]:
    return {pin["repository"]: pin for pin in body["pins"]}


def test_what_a_release_brings_to_production(world: ChangesWorld, reader: APIClient, tmp_path):
    response = reader.get("/api/releases/1.5/changes/?since=production")

    assert response.status_code == 200, response.content
    body = response.json()
    # 1.3 and 1.4 run side by side in production; 1.4 was deployed last.
    assert body["since"] == {"kind": "environment", "name": "production", "release": "1.4"}
    assert body["limit"] == 50
    pins = by_repository(body)
    assert {name: pin["status"] for name, pin in pins.items()} == {
        "pytroll/satpy": "forward",
        "openstack/nova": "backwards",
        "pytroll/fogpy": "forward",
        "acme/rewritten": "unrelated",
        "acme/sideways": "diverged",
        "acme/steady": "same",
        "acme/newcomer": "added",
        "acme/gone": "unreachable",
        "acme/retiree": "removed",
    }

    satpy = pins["pytroll/satpy"]
    assert [c["subject"] for c in satpy["commits"]] == list(reversed(world.satpy_subjects))
    assert satpy["commits"][0] == {
        "sha": world.shas["pytroll/satpy 1.5"],
        "subject": "Release",
        "author": "Zoë Tester",
        "date": "2025-01-15T10:00:00Z",
    }
    assert (satpy["total"], satpy["more"]) == (3, 0)
    assert satpy["old"] == {"tag": "v1.4.0", "commit_sha": world.shas["pytroll/satpy 1.4"]}

    fogpy = pins["pytroll/fogpy"]
    assert (len(fogpy["commits"]), fogpy["total"], fogpy["more"]) == (50, 120, 70)
    assert fogpy["commits"][0]["sha"] == world.shas["pytroll/fogpy 1.5"]
    assert fogpy["message"] == "120 new commit(s)"

    nova = pins["openstack/nova"]
    assert nova["total"] == 3 and len(nova["commits"]) == 3
    assert nova["commits"][0]["sha"] == world.shas["openstack/nova 1.4"]
    assert nova["message"].startswith("moved backwards: ")
    assert "is an ancestor of" in nova["message"]

    assert pins["acme/rewritten"]["commits"] == []
    assert "no common history" in pins["acme/rewritten"]["message"]
    sideways = pins["acme/sideways"]
    assert (sideways["total"], sideways["left_behind"]) == (1, 1)
    assert sideways["commits"][0]["subject"] == "The fix, done differently"

    gone = pins["acme/gone"]
    assert gone["commits"] == [] and world.urls["acme/gone"] in gone["message"]
    assert pins["acme/steady"]["commits"] == []
    assert pins["acme/newcomer"]["old"] is None
    assert pins["acme/retiree"]["new"] is None

    # One cached clone per reachable repository that moved.
    clones = sorted(path.name for path in (tmp_path / "clones").glob("*.git"))
    assert len(clones) == 5


def test_since_another_release_and_a_smaller_bound(world: ChangesWorld, reader, settings):
    settings.REGISTRY_CHANGES_MAX_COMMITS = 2

    body = reader.get("/api/releases/1.5/changes/?since=1.3").json()

    assert body["since"] == {"kind": "release", "name": "1.3", "release": "1.3"}
    satpy = by_repository(body)["pytroll/satpy"]
    assert [c["subject"] for c in satpy["commits"]] == ["Release", "Fix the äöü in AVHRR"]
    assert (satpy["total"], satpy["more"]) == (3, 1)


def test_a_cached_clone_learns_a_new_commit(world: ChangesWorld, reader):
    first = by_repository(reader.get("/api/releases/1.5/changes/?since=1.4").json())
    assert first["pytroll/satpy"]["total"] == 3
    # A new commit pushed and pinned: the cached clone learns it by an incremental fetch.
    satpy = world.repositories["pytroll/satpy"]
    satpy.head = world.shas["pytroll/satpy 1.5"]
    world.shas["pytroll/satpy 1.5"] = satpy.commit("Hotfix after the release")
    store_releases(world, ("1.5",))

    again = by_repository(reader.get("/api/releases/1.5/changes/?since=1.4").json())
    assert again["pytroll/satpy"]["total"] == 4
    assert again["pytroll/satpy"]["commits"][0]["subject"] == "Hotfix after the release"


def test_an_environment_running_only_this_release_compares_with_nothing(world, reader):
    body = reader.get("/api/releases/1.5/changes/?since=staging").json()

    assert body["since"] == {"kind": "environment", "name": "staging", "release": None}
    assert {pin["status"] for pin in body["pins"]} == {"added"}


def test_bad_requests(world: ChangesWorld, reader, client):
    missing = reader.get("/api/releases/1.5/changes/")
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["path"] == "since"
    unknown = reader.get("/api/releases/1.5/changes/?since=nowhere")
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0] == {
        "path": "since",
        "message": "'nowhere' is neither a release version nor an environment",
        "code": "unknown",
    }
    assert reader.get("/api/releases/9.9/changes/?since=production").status_code == 404
    assert APIClient().get("/api/releases/1.5/changes/?since=production").status_code == 401


def test_the_evidence_package_says_what_changed_since_what_runs_where_it_goes(
    world: ChangesWorld, reader
):
    writer = token_client("iac-pipeline", "write")
    response = writer.put(
        "/api/releases/1.5/deployments/production/",
        data=json.dumps({"namespace": "prod-v1.5", "status": "planned"}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content

    first = reader.get("/api/releases/1.5/evidence")

    assert first.status_code == 200
    sections = first.json()["package"]["what_changed"]
    assert [(s["environment"], s["since"]["release"]) for s in sections] == [
        ("staging", None),
        ("production", "1.4"),
    ]
    assert sections[0]["pins"] == []
    pins = by_repository(sections[1])
    assert pins == by_repository(reader.get("/api/releases/1.5/changes/?since=production").json())
    assert pins["openstack/nova"]["status"] == "backwards"
    assert (pins["pytroll/fogpy"]["total"], pins["pytroll/fogpy"]["more"]) == (120, 70)
    # The same state, the same bytes (the clones are warm now; nothing about that shows).
    assert reader.get("/api/releases/1.5/evidence").content == first.content


def test_the_release_page_links_to_what_changed_in_the_admin(world: ChangesWorld, admin_client):
    from django.urls import reverse

    from releases.models import Release

    release = Release.objects.get(version="1.5")
    page = admin_client.get(reverse("admin:releases_release_change", args=[release.pk]))
    link = reverse("admin:releases_release_changes", args=[release.pk])
    assert link in page.content.decode()

    html = admin_client.get(link, {"since": "production"}).content.decode()

    assert "1.5 since production (1.4)" in html
    assert "Fix the äöü in AVHRR" in html and "and 70 more" in html
    assert "moved backwards: " in html and "have no common history" in html
    assert world.urls["acme/gone"] in html
    unknown = admin_client.get(link, {"since": "nowhere"}).content.decode()
    assert "is neither a release version nor an environment" in unknown
