"""``POST /hooks/git``: signatures, ignored branches, one sync per burst of pushes."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from pytest_django.fixtures import Settings

from config.celery_app import app as celery_app
from releases.gitops.models import ManifestSync
from releases.models import Release

from .texts import manifest_text
from .worktree import ManifestsWorkTree

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-Zoë-webhook"
URL = "/hooks/git"


@pytest.fixture
def configured(
    settings: Settings,
    manifests_repo: ManifestsWorkTree,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> ManifestsWorkTree:
    # The queued task runs in this process when its commit callback runs, with or without a
    # broker (CI has Redis; no worker is started for these tests).
    monkeypatch.setitem(celery_app.conf, "task_always_eager", True)
    settings.REGISTRY_WEBHOOK_SECRET = SECRET
    settings.REGISTRY_MANIFESTS_REPO_URL = manifests_repo.url
    settings.REGISTRY_GIT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.REGISTRY_GIT_ALLOWED_SCHEMES = ["git", "http"]
    settings.REGISTRY_GIT_CACHE_DIR = str(tmp_path / "cache")
    manifests_repo.write("manifests/v1.4.yaml", manifest_text("1.4"))
    manifests_repo.commit("1.4")
    manifests_repo.push("main")
    return manifests_repo


def github_push(client: Client, ref: str = "refs/heads/main", secret: str = SECRET) -> Any:
    body = json.dumps({"ref": ref, "after": "0" * 40, "repository": {"full_name": "a/b"}})
    signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return client.post(
        URL,
        body,
        content_type="application/json",
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={signature}"},
    )


def gitlab_push(client: Client, token: str, ref: str = "refs/heads/main") -> Any:
    body = json.dumps({"object_kind": "push", "ref": ref, "checkout_sha": "1" * 40})
    return client.post(
        URL,
        body,
        content_type="application/json",
        headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": token},
    )


def test_off_without_a_secret(client: Client, settings: Settings) -> None:
    settings.REGISTRY_WEBHOOK_SECRET = None
    assert github_push(client).status_code == 404
    assert not ManifestSync.objects.exists()


def test_missing_or_wrong_signature_queues_nothing(
    client: Client, configured: ManifestsWorkTree, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        missing = client.post(
            URL, "{}", content_type="application/json", headers={"X-GitHub-Event": "push"}
        )
        wrong = github_push(client, secret="not-the-secret")
        tampered = client.post(
            URL,
            json.dumps({"ref": "refs/heads/main"}),
            content_type="application/json",
            headers={
                "X-GitHub-Event": "push",
                # The signature of another body.
                "X-Hub-Signature-256": "sha256="
                + hmac.new(SECRET.encode(), b"{}", hashlib.sha256).hexdigest(),
            },
        )
        wrong_token = gitlab_push(client, "not-the-secret")
    assert missing.status_code == 401
    assert "X-Hub-Signature-256" in missing.json()["error"]
    assert [r.status_code for r in (wrong, tampered, wrong_token)] == [403, 403, 403]
    assert callbacks == []
    assert not ManifestSync.objects.exists()
    assert not Release.objects.exists()


def test_a_valid_push_runs_exactly_one_sync(
    client: Client, configured: ManifestsWorkTree, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = github_push(client)
        second = github_push(client)  # a burst: the waiting sync will read it too
        third = gitlab_push(client, SECRET)
    assert first.status_code == second.status_code == third.status_code == 202
    assert first.json()["status"] == "queued"
    assert (
        second.json() == third.json() == {"status": "already queued", "sync": first.json()["sync"]}
    )
    assert len(callbacks) == 1
    callbacks[0]()  # the worker runs the task (eagerly, no broker in tests)
    run = ManifestSync.objects.get()
    assert (run.state, run.trigger) == ("done", "webhook")
    assert run.counts["created"] == 1
    assert Release.objects.filter(version="1.4").exists()
    # Delivered twice (acks_late), the task syncs once.
    callbacks[0]()
    assert ManifestSync.objects.count() == 1


def test_gitlab_shape_and_other_branches(
    client: Client, configured: ManifestsWorkTree, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ignored = gitlab_push(client, SECRET, ref="refs/heads/feature/new-dashboards")
        tag = github_push(client, ref="refs/tags/v1.4.0")
    assert ignored.status_code == tag.status_code == 200
    assert ignored.json()["status"] == tag.json()["status"] == "ignored"
    assert callbacks == []
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        backport = gitlab_push(client, SECRET, ref="refs/heads/release/1.4")
    assert backport.status_code == 202
    # One sync queued; the sync's own imports queue their Notion changes after it.
    assert [c for c in callbacks if "run_manifest_sync" in repr(c)] == callbacks[:1]
    assert ManifestSync.objects.get().state == "done"


def test_only_post(client: Client, configured: ManifestsWorkTree) -> None:
    assert client.get(URL).status_code == 405
