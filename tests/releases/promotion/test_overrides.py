"""A refused deployment recorded anyway, by someone allowed to, with a reason: stored, in the
history, the evidence package and the Notion rows. And the gate holds for writes no form
checked (a model save)."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from registry.models import Environment
from releases import changes
from releases.models import EnvironmentDeployment, Release
from releases.notion.mapping import environment_names, load_release, pin_properties
from releases.promotion.enforcement import PromotionRefused
from releases.promotion.models import PromotionOverride

from ...admin_forms import form_data
from ..api.conftest import token_client
from .fleet import SCENARIOS, grant_override, production_manifest, snapshot

pytestmark = pytest.mark.django_db
REASON = "hotfix for CVE-2026-1234; freeze waived by Zoë (CAB-77)"


def override_of(version: str = "1.5") -> PromotionOverride:
    return PromotionOverride.objects.select_related("environment", "user").get(
        release__version=version
    )


def test_api_override_with_the_permission_records_it_with_its_reason(
    fleet: Any, django_user_model: Any
):
    SCENARIOS["freeze window"][0](fleet)
    pipeline = token_client("iac-pipeline", "write")
    grant_override(django_user_model.objects.get(username="iac-pipeline"))

    response = pipeline.put(
        "/api/releases/1.5/deployments/production/",
        {"namespace": "prod-v1.5", "status": "deployed"},
        format="json",
        HTTP_PROMOTION_OVERRIDE_REASON=REASON,
    )

    assert response.status_code == 201, response.content
    override = override_of()
    assert (override.environment.name, override.reason, override.actor) == (
        "production",
        REASON,
        "iac-pipeline",
    )
    assert override.user is not None and override.user.username == "iac-pipeline"
    assert [rule["rule"] for rule in override.rules] == ["freeze-window"]
    assert "incident freeze until" in override.rules[0]["message"]

    # The history: the override, who, and why.
    history = pipeline.get("/api/releases/1.5/history/").json()["results"]
    entry = next(e for e in history if e["kind"] == "override")
    assert (entry["name"], entry["action"], entry["user"]) == (
        "production",
        "created",
        "iac-pipeline",
    )
    assert entry["source"].startswith("promotion override: hotfix for CVE-2026-1234")

    # The evidence package, hashed with the rest.
    evidence = pipeline.get("/api/releases/1.5/evidence").json()
    (recorded,) = evidence["package"]["promotion_overrides"]
    assert recorded["reason"] == REASON
    assert recorded["by"] == "iac-pipeline"
    assert recorded["rules"][0]["rule"] == "freeze-window"

    # Notion: the Namespaces text the mapping owns says so on every pin's row.
    release = load_release(Release.objects.get(version="1.5").pk)
    assert release is not None
    pin = next(iter(release.pins.values()))
    namespaces = pin_properties(release, pin, environment_names(), None, related=False)[
        "Namespaces"
    ]
    text = namespaces["rich_text"][0]["text"]["content"]
    assert f"production: prod-v1.5 (promotion override: {REASON})" in text


def test_api_override_without_the_permission_is_refused_and_says_so(fleet: Any):
    SCENARIOS["approvals missing"][0](fleet)
    before = snapshot()

    response = token_client("iac-pipeline", "write").put(
        "/api/releases/1.5/deployments/production/",
        {"namespace": "prod-v1.5", "status": "deployed"},
        format="json",
        HTTP_PROMOTION_OVERRIDE_REASON=REASON,
    )

    assert response.status_code == 409
    messages = [e["message"] for e in response.json()["errors"]]
    assert "iac-pipeline may not override the policy" in messages
    assert snapshot() == before


def test_import_command_override_flag(fleet: Any, tmp_path: Path):
    SCENARIOS["soak time not over"][0](fleet)
    file = tmp_path / "v1.5.yaml"
    file.write_text(production_manifest())

    call_command("import_manifest", str(file), "--override-reason", REASON, stdout=StringIO())

    override = override_of()
    assert (override.reason, override.actor, override.user) == (REASON, "command line", None)
    assert override.source == str(file)
    assert [rule["rule"] for rule in override.rules] == ["soak-time"]
    assert EnvironmentDeployment.objects.filter(
        release__version="1.5", environment__name="production", status="deployed"
    ).exists()


def test_admin_override_reason_field(fleet: Any, django_user_model: Any):
    SCENARIOS["recurring freeze across midnight in Pacific/Auckland"][0](fleet)
    team = django_user_model.objects.create_user("dana", "d@example.invalid", "pw", is_staff=True)
    from django.contrib.auth.models import Permission

    team.user_permissions.add(
        *Permission.objects.filter(
            codename__in=[
                "change_release",
                "view_release",
                "add_environmentdeployment",
                "change_environmentdeployment",
                "view_environmentdeployment",
                "add_repositorypin",
                "change_repositorypin",
                "view_repositorypin",
            ]
        )
    )
    client = Client()
    client.force_login(team)
    url = reverse("admin:releases_release_change", args=[Release.objects.get(version="1.5").pk])

    def post(reason: str) -> Any:
        data = form_data(client.get(url).content.decode())
        data.pop("csrfmiddlewaretoken", None)
        row = int(data["deployments-TOTAL_FORMS"])
        data.update(
            {
                "deployments-TOTAL_FORMS": str(row + 1),
                f"deployments-{row}-position": "1",
                f"deployments-{row}-environment": str(
                    Environment.objects.get(name="production").pk
                ),
                f"deployments-{row}-namespace": "prod-v1.5",
                f"deployments-{row}-status": "in_progress",
                f"deployments-{row}-override_reason": reason,
                "_save": "Save",
            }
        )
        return client.post(url, data)

    refused = post(REASON)  # dana may edit releases, not override
    assert refused.status_code == 200
    assert "override: you may not override the promotion policy" in refused.content.decode()
    assert not PromotionOverride.objects.exists()

    grant_override(team)
    team = django_user_model.objects.get(pk=team.pk)  # a fresh permission cache
    client.force_login(team)
    assert post(REASON).status_code == 302
    override = override_of()
    assert (override.reason, override.actor, override.user) == (REASON, "dana", team)
    assert [rule["rule"] for rule in override.rules] == ["freeze-window"]


def test_a_model_save_no_form_checked_is_refused_when_its_batch_ends(fleet: Any):
    SCENARIOS["invalid pin"][0](fleet)
    before = snapshot()
    production = Environment.objects.get(name="production")

    with pytest.raises(PromotionRefused) as refused, changes.batch(changes.ADMIN):
        EnvironmentDeployment.objects.create(
            release=Release.objects.get(version="1.5"),
            environment=production,
            namespace="prod-v1.5",
            status="in_progress",
        )

    (rejection,) = refused.value.rejections
    (error,) = rejection.errors
    assert error.path == "environments.production"
    assert "valid-pins: pins not valid: openstack/nova (invalid)" in error.message
    assert snapshot() == before
