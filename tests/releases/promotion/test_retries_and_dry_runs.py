"""A promotion refusal depends on time and on other data, not on the file: the git sync tries a
refused file again on every sync, and a dry run answers what the real write would get."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from registry.models import Environment
from releases.gitops.models import ManifestSource
from releases.gitops.sync import sync_manifests
from releases.models import EnvironmentDeployment, Release
from releases.promotion.models import FreezeWindow, PromotionApproval, PromotionOverride
from releases.promotion.models import PromotionPolicy as Policy

from ..api.conftest import token_client
from .fleet import (
    ago,
    approvals_missing,
    frozen_now,
    grant_override,
    production_manifest,
    snapshot,
)
from .test_write_paths import admin_client

pytestmark = pytest.mark.django_db


def freeze_ends(fleet: dict[str, Any]) -> None:
    """The incident freeze ended a minute ago (set through the data, no sleeping)."""
    FreezeWindow.objects.filter(name="incident freeze").update(ends_at=ago(minutes=1))


def approval_given(fleet: dict[str, Any]) -> None:
    PromotionApproval.objects.create(
        release=Release.objects.get(version="1.5"),
        environment=Environment.objects.get(name="production"),
        user=fleet["people"]["bjørn"],
        approved_at=ago(minutes=5),
    )


def policy_removed(fleet: dict[str, Any]) -> None:
    Policy.objects.filter(environment__name="production").delete()


#: (what breaks a rule, the rule, what makes the data satisfy it again)
CASES: dict[str, tuple[Callable[[Any], None], str, Callable[[Any], None]]] = {
    "freeze window ends": (frozen_now, "freeze-window", freeze_ends),
    "the missing approval is given": (approvals_missing, "approvals", approval_given),
    "the policy is removed": (frozen_now, "freeze-window", policy_removed),
}


def in_production() -> bool:
    return EnvironmentDeployment.objects.filter(
        environment__name="production", release__version="1.5"
    ).exists()


@pytest.mark.git
@pytest.mark.parametrize("case", list(CASES))
def test_the_git_sync_tries_a_refused_file_again_until_the_policy_lets_it_in(
    fleet: Any, case: str, manifests_repo: Any, make_repository: Any
):
    breaks, rule, mends = CASES[case]
    breaks(fleet)
    manifests_repo.write("manifests/v1.5.yaml", production_manifest())
    commit = manifests_repo.commit("deploy 1.5 to production")
    manifests_repo.push("main")

    first = sync_manifests(make_repository())
    again = sync_manifests(make_repository())  # nothing changed anywhere: refused again

    for report in (first, again):
        assert not report.ok
        (rejection,) = report.rejections
        assert (rejection.path, rejection.commit) == ("manifests/v1.5.yaml", commit)
        assert f"1.5 may not go live in production: {rule}: " in "\n".join(rejection.lines())
        # Read and put to the gate each time, not recalled from an earlier sync.
        assert not rejection.remembered
        assert report.blobs_read == 1
    assert not in_production()
    assert not ManifestSource.objects.filter(version="1.5").exclude(rejected_blob_sha="").exists()

    mends(fleet)
    dry = sync_manifests(make_repository(), dry_run=True)
    assert dry.ok and [item.action for item in dry.imported] == ["updated"]
    assert not in_production()

    synced = sync_manifests(make_repository())

    assert synced.ok, synced.as_dict()
    assert [(item.file.version, item.action) for item in synced.imported] == [("1.5", "updated")]
    assert EnvironmentDeployment.objects.get(
        environment__name="production", release__version="1.5"
    ).status == ("deployed")
    source = ManifestSource.objects.get(version="1.5")
    assert (source.blob_sha, source.rejection) == (synced.imported[0].file.blob, {})


@pytest.mark.git
def test_a_content_rejection_is_still_remembered_by_blob(
    fleet: Any, manifests_repo: Any, make_repository: Any
):
    manifests_repo.write("manifests/v1.5.yaml", 'version: "1.5"\nrepositories: [}\n')
    manifests_repo.commit("broken")
    manifests_repo.push("main")
    assert sync_manifests(make_repository()).blobs_read == 1
    again = sync_manifests(make_repository())
    assert again.blobs_read == 0 and again.rejections[0].remembered


def test_import_manifest_dry_run_is_refused_as_the_import_would_be(fleet: Any, tmp_path: Path):
    frozen_now(fleet)
    file = tmp_path / "v1.5.yaml"
    file.write_text(production_manifest())
    before = snapshot()
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError) as refused:
        call_command("import_manifest", str(file), "--dry-run", stdout=out, stderr=err)

    assert refused.value.returncode == 1
    assert "nothing was written" in str(refused.value)
    assert (
        f"{file}: environments.production: error: 1.5 may not go live in production: "
        "freeze-window: " in err.getvalue()
    )
    assert "would be" not in out.getvalue()
    assert snapshot() == before and not in_production()

    # With an override the real import would record it, so the dry run passes: nothing kept.
    out = StringIO()
    call_command(
        "import_manifest", str(file), "--dry-run", "--override-reason", "hotfix", stdout=out
    )
    assert "1.5 would be updated" in out.getvalue()
    assert not PromotionOverride.objects.exists()

    freeze_ends(fleet)
    out = StringIO()
    call_command("import_manifest", str(file), "--dry-run", stdout=out)
    assert "1.5 would be updated" in out.getvalue()
    assert "nothing written (dry run)" in out.getvalue()
    assert snapshot() == before and not in_production()


def test_api_dry_run_answers_409_with_the_gate_s_rules(fleet: Any, django_user_model: Any):
    approvals_missing(fleet)
    writer = token_client("iac-pipeline", "write")
    before = snapshot()

    response = writer.put(
        "/api/releases/1.5/manifest?dry_run=1",
        data=production_manifest(),
        content_type="application/yaml",
    )

    assert response.status_code == 409, response.content
    body = response.json()
    assert body["allowed"] is False
    assert [r["rule"] for r in body["rules"] if not r["ok"]] == ["approvals"]
    assert {e["path"] for e in body["errors"]} == {"environments.production"}
    assert snapshot() == before and not in_production()

    # An override header the caller may not use is refused in the dry run as in the write.
    reason = "hotfix for CVE-2026-1234"
    forbidden = writer.put(
        "/api/releases/1.5/manifest?dry_run=1",
        data=production_manifest(),
        content_type="application/yaml",
        HTTP_PROMOTION_OVERRIDE_REASON=reason,
    )
    assert forbidden.status_code == 409
    assert "iac-pipeline may not override the policy" in [
        e["message"] for e in forbidden.json()["errors"]
    ]
    grant_override(django_user_model.objects.get(username="iac-pipeline"))
    overridden = writer.put(
        "/api/releases/1.5/manifest?dry_run=1",
        data=production_manifest(),
        content_type="application/yaml",
        HTTP_PROMOTION_OVERRIDE_REASON=reason,
    )
    assert overridden.status_code == 200, overridden.content
    assert not PromotionOverride.objects.exists() and not in_production()

    approval_given(fleet)
    allowed = writer.put(
        "/api/releases/1.5/manifest?dry_run=1",
        data=production_manifest(),
        content_type="application/yaml",
    )
    assert allowed.status_code == 200, allowed.content
    assert allowed.json()["action"] == "updated" and allowed.json()["dry_run"] is True
    assert not in_production()


def test_the_admin_import_preview_shows_the_refusal(fleet: Any, django_user_model: Any):
    frozen_now(fleet)
    client = admin_client(django_user_model)
    before = snapshot()

    preview = client.post(
        reverse("admin:releases_release_import"),
        {"text": production_manifest(), "_preview": "Preview"},
    )

    assert preview.status_code == 200
    assert preview.context.get("result") is None  # nothing offered to confirm
    page = preview.content.decode()
    assert "refused, nothing was written" in page
    assert "environments.production: 1.5 may not go live in production: freeze-window: " in page
    assert 'name="payload"' not in page
    assert snapshot() == before and not in_production()


def test_a_dry_run_sees_what_the_write_would_leave(fleet: Any, tmp_path: Path):
    """Every rule of 1.5 is met, but the file moves a pin: the write would store it not
    validated yet, so production's valid-pins rule refuses the write, and the dry run too."""
    text = production_manifest()
    moved = text.replace('tag: "v1.5.2"', 'tag: "v1.5.20"', 1)
    moved = moved.replace('package_version: "1.5.2"', 'package_version: "1.5.20"', 1)
    assert moved != text
    file = tmp_path / "v1.5.yaml"
    file.write_text(moved)
    before = snapshot()
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("import_manifest", str(file), "--dry-run", stdout=StringIO(), stderr=err)
    assert "valid-pins: " in err.getvalue() and "openstack/nova" in err.getvalue()
    real = StringIO()
    with pytest.raises(CommandError):
        call_command("import_manifest", str(file), stdout=StringIO(), stderr=real)
    assert real.getvalue() == err.getvalue()
    assert snapshot() == before and not in_production()
