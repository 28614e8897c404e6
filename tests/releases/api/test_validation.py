"""``POST /api/releases/{version}/validate`` and ``GET /api/validation-runs/{id}/``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from rest_framework.test import APIClient

from releases.models import Release
from releases.validation.models import ValidationRun
from tests.gitserver import GitDaemon, RepositoryFolder, git_daemon, repository_folder  # noqa: F401
from tests.hanging import HangingServer
from tests.releases.manifests import RELEASE_1_4, generated_manifest, import_text
from tests.releases.validation.runs_world import Pin, World, eager_tasks, store

pytestmark = pytest.mark.django_db

RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


@pytest.fixture
def release_1_4() -> Release:
    import_text(RELEASE_1_4)
    return Release.objects.get(version="1.4")


def test_validate_queues_a_run_and_answers_where_to_poll_it(
    writer: APIClient,
    reader: APIClient,
    release_1_4: Release,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = writer.post("/api/releases/1.4/validate")

    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"id", "url", "state"}
    assert body["state"] == "queued"
    assert body["url"] == f"http://testserver/api/validation-runs/{body['id']}/"
    assert response["Location"] == body["url"]
    # The row exists before its task runs: the task is only enqueued on commit.
    assert len(callbacks) == 1
    run = ValidationRun.objects.get(pk=body["id"])
    assert run.release == release_1_4
    assert run.state == "queued" and run.started_at is None
    assert run.requested_by == "iac-pipeline"
    assert run.user is not None and run.user.get_username() == "iac-pipeline"

    polled = reader.get(body["url"])
    assert polled.status_code == 200
    data = polled.json()
    assert data == {
        "id": body["id"],
        "release": "1.4",
        "state": "queued",
        "requested_by": "iac-pipeline",
        "queued_at": data["queued_at"],
        "started_at": None,
        "finished_at": None,
        "counts": {"valid": 0, "warning": 0, "invalid": 0, "unreachable": 0, "unchecked": 0},
        "results": [],
        "error": "",
        "superseded_by": None,
    }
    assert RFC3339_Z.match(data["queued_at"])


def test_validate_needs_a_write_token(
    reader: APIClient, anonymous: APIClient, release_1_4: Release
) -> None:
    anonymous_answer = anonymous.post("/api/releases/1.4/validate")
    assert anonymous_answer.status_code == 401
    assert anonymous_answer["WWW-Authenticate"] == "Token"
    read_answer = reader.post("/api/releases/1.4/validate")
    assert read_answer.status_code == 403
    assert "read" in read_answer.json()["detail"]
    assert not ValidationRun.objects.exists()


def test_unknown_release_and_unknown_run_are_404(writer: APIClient, reader: APIClient) -> None:
    missing = writer.post("/api/releases/9.9.9/validate")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No release 9.9.9."
    assert not ValidationRun.objects.exists()
    assert reader.get("/api/validation-runs/424242/").status_code == 404
    assert reader.get("/api/validation-runs/424242/").json()["detail"] == (
        "No validation run 424242."
    )


def test_a_run_is_read_in_a_constant_number_of_queries(
    reader: APIClient, django_assert_max_num_queries: Any
) -> None:
    import_text(generated_manifest(200, "7.0"), source="manifests/v7.0.yaml")
    release = Release.objects.get(version="7.0")
    results = [
        {
            "repository": f"org/repo-{i:04d}",
            "path": f"repositories[{i}]",
            "state": "invalid" if i % 2 else "valid",
            "commit": f"{i:040x}",
            "findings": [
                {
                    "code": "sha-mismatch",
                    "severity": "error",
                    "path": f"repositories[{i}].commit_sha",
                    "message": f"the tag points at {i:040x} — not the pinned commit",
                }
            ]
            if i % 2
            else [],
        }
        for i in range(200)
    ]
    run = ValidationRun.objects.create(
        release=release,
        requested_by="dashboard",
        state="done",
        counts={"valid": 100, "warning": 0, "invalid": 100, "unreachable": 0, "unchecked": 0},
        results=results,
    )
    reader.get("/api/releases/")  # the token's first use is recorded once

    with django_assert_max_num_queries(5):
        response = reader.get(f"/api/validation-runs/{run.pk}/")

    assert response.status_code == 200
    assert response.json()["results"] == results


@pytest.mark.git
def test_a_run_requested_through_the_api_checks_real_repositories(
    writer: APIClient, reader: APIClient, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    store(
        "2.0",
        [
            Pin("pytroll/fogpy", "v2.6.1", world.shas["fogpy v2.6.1"], "2.6.1"),
            Pin("chempipe-plugins", "v3.1.0", world.shas["fogpy other"], "3.1.0"),
            Pin("pytroll/missing-repo", "v0.1.0", "a" * 40, None),
        ],
    )

    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        response = writer.post("/api/releases/2.0/validate")
    assert response.status_code == 202

    run = reader.get(response["Location"]).json()
    assert run["state"] == "done"
    assert run["release"] == "2.0" and run["requested_by"] == "iac-pipeline"
    assert all(RFC3339_Z.match(run[key]) for key in ("queued_at", "started_at", "finished_at"))
    assert run["counts"] == {
        "valid": 1,
        "warning": 0,
        "invalid": 1,
        "unreachable": 1,
        "unchecked": 0,
    }
    by_name = {result["repository"]: result for result in run["results"]}
    assert [r["path"] for r in run["results"]] == [f"repositories[{i}]" for i in range(3)]
    assert by_name["pytroll/fogpy"] == {
        "repository": "pytroll/fogpy",
        "path": "repositories[0]",
        "state": "valid",
        "commit": world.shas["fogpy v2.6.1"],
        "findings": [],
    }
    mismatch = by_name["chempipe-plugins"]
    assert mismatch["state"] == "invalid"
    assert mismatch["commit"] == world.shas["chempipe-plugins v3.1.0"]
    assert [(f["code"], f["severity"], f["path"]) for f in mismatch["findings"]] == [
        ("sha-mismatch", "error", "repositories[1].commit_sha")
    ]
    assert by_name["pytroll/missing-repo"]["state"] == "unreachable"

    detail = reader.get("/api/releases/2.0/").json()
    assert {pin["name"]: pin["state"] for pin in detail["repositories"]} == {
        name: result["state"] for name, result in by_name.items()
    }
    assert {pin["name"]: pin["findings"] for pin in detail["repositories"]} == {
        name: result["findings"] for name, result in by_name.items()
    }
    assert detail["validation"]["pins"] == run["counts"]


@pytest.mark.git
def test_a_request_while_the_broker_hangs_is_answered_and_its_run_sent_later(
    writer: APIClient,
    reader: APIClient,
    world: World,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from celery import current_app

    from releases.validation.runs import recover_stale_runs

    store("2.0", [Pin("pytroll/fogpy", "v2.6.1", world.shas["fogpy v2.6.1"], "2.6.1")])
    saved = {key: current_app.conf[key] for key in ("broker_url", "task_always_eager")}
    # Accepts connections, answers nothing: a failover in progress, a half-open connection.
    with HangingServer() as broker:
        current_app.conf.update(broker_url=broker.url, task_always_eager=False)
        try:
            with broker.watchdog(30), django_capture_on_commit_callbacks(execute=True):
                response = writer.post("/api/releases/2.0/validate")
            assert not broker.cut, "the request waited for the broker until the test cut it"
        finally:
            current_app.conf.update(saved)
    assert response.status_code == 202, response.content
    assert reader.get(response["Location"]).json()["state"] == "queued"

    # Once the run has waited past the stale delay, the recovery (every 30 s) sends it again.
    settings.REGISTRY_VALIDATION_STALE_AFTER = 0
    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        assert recover_stale_runs() == [response.json()["id"]]
    run = reader.get(response["Location"]).json()
    assert run["state"] == "done" and run["counts"]["valid"] == 1
