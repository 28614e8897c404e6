"""Each rule refuses a deployment to production on every write path, naming the rule and
writing nothing: the API (deployments and manifests), the admin, import_manifest and the git
sync. Only a move INTO a live status is gated."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from registry.models import Environment
from releases.gitops.sync import sync_manifests
from releases.models import EnvironmentDeployment, Release

from ...admin_forms import form_data
from ..api.conftest import token_client
from .fleet import SCENARIOS, production_manifest, snapshot

pytestmark = pytest.mark.django_db

#: A write path: records 1.5 as deployed to production; the messages of its refusal.
Path_ = Callable[..., str]


def through_api_deployment(**_: Any) -> str:
    response = token_client("iac-pipeline", "write").put(
        "/api/releases/1.5/deployments/production/",
        {"namespace": "prod-v1.5", "status": "deployed"},
        format="json",
    )
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["allowed"] is False
    # CONTRACT §3: the gate's rules, every one of them, ok or not.
    assert {r["rule"] for r in body["rules"]} >= {"upstream", "approvals"}
    assert all(e["path"] == "environments.production" for e in body["errors"])
    return "\n".join(f"{r['rule']}: {r['message']}" for r in body["rules"] if not r["ok"])


def through_api_manifest(**_: Any) -> str:
    response = token_client("iac-pipeline", "write").put(
        "/api/releases/1.5/manifest",
        data=production_manifest(),
        content_type="application/yaml",
    )
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["allowed"] is False
    return "\n".join(f"{r['rule']}: {r['message']}" for r in body["rules"] if not r["ok"])


def admin_client(django_user_model: Any) -> Client:
    client = Client()
    user = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")
    client.force_login(user)
    return client


def through_admin(django_user_model: Any, **_: Any) -> str:
    client = admin_client(django_user_model)
    url = reverse("admin:releases_release_change", args=[Release.objects.get(version="1.5").pk])
    data = form_data(client.get(url).content.decode())
    data.pop("csrfmiddlewaretoken", None)
    row = int(data["deployments-TOTAL_FORMS"])
    data.update(
        {
            "deployments-TOTAL_FORMS": str(row + 1),
            f"deployments-{row}-position": "1",
            f"deployments-{row}-environment": str(Environment.objects.get(name="production").pk),
            f"deployments-{row}-namespace": "prod-v1.5",
            f"deployments-{row}-status": "deployed",
            "_save": "Save",
        }
    )
    response = client.post(url, data)
    assert response.status_code == 200, "the admin saved a refused deployment"
    formset = next(
        f.formset
        for f in response.context["inline_admin_formsets"]
        if f.formset.prefix == "deployments"
    )
    errors = formset.forms[row].non_field_errors()
    assert errors[0] == (
        "The promotion policy of production refuses 1.5 (environments.production):"
    )
    return "\n".join(errors)


def through_import_command(tmp_path: Path, **_: Any) -> str:
    path = tmp_path / "v1.5.yaml"
    path.write_text(production_manifest())
    err = StringIO()
    with pytest.raises(CommandError) as refused:
        call_command("import_manifest", str(path), stdout=StringIO(), stderr=err)
    assert refused.value.returncode == 1
    assert "nothing was written" in str(refused.value)
    text = err.getvalue()
    assert f"{path}: environments.production: error: 1.5 may not go live in production" in text
    return text


def through_git_sync(manifests_repo: Any, make_repository: Any, **_: Any) -> str:
    manifests_repo.write("manifests/v1.5.yaml", production_manifest())
    manifests_repo.commit("deploy 1.5 to production")
    manifests_repo.push("main")
    report = sync_manifests(make_repository())
    assert not report.ok
    (rejection,) = report.rejections
    assert rejection.path == "manifests/v1.5.yaml"
    assert {error.path for error in rejection.errors} == {"environments.production"}
    return "\n".join(rejection.lines())


PATHS: dict[str, Path_] = {
    "API deployment": through_api_deployment,
    "API manifest": through_api_manifest,
    "admin": through_admin,
    "import_manifest": through_import_command,
    "git sync": through_git_sync,
}


@pytest.fixture
def git_fixtures(request: pytest.FixtureRequest, path: str) -> dict[str, Any]:
    if path != "git sync":
        return {}
    return {
        "manifests_repo": request.getfixturevalue("manifests_repo"),
        "make_repository": request.getfixturevalue("make_repository"),
    }


@pytest.mark.parametrize("path", list(PATHS))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_rule_refuses_on_every_write_path_and_nothing_is_written(
    fleet: Any,
    scenario: str,
    path: str,
    git_fixtures: dict[str, Any],
    tmp_path: Path,
    django_user_model: Any,
):
    breaks, rule = SCENARIOS[scenario]
    breaks(fleet)
    before = snapshot()

    refusal = PATHS[path](tmp_path=tmp_path, django_user_model=django_user_model, **git_fixtures)

    assert f"{rule}: " in refusal
    other_rules = {r for _, r in SCENARIOS.values()} - {rule}
    assert not [r for r in other_rules if f"{r}: " in refusal], refusal
    assert snapshot() == before
    assert not EnvironmentDeployment.objects.filter(
        environment__name="production", release__version="1.5"
    ).exists()


@pytest.mark.parametrize("path", list(PATHS))
def test_with_every_rule_met_each_path_records_the_deployment(
    fleet: Any, path: str, git_fixtures: dict[str, Any], tmp_path: Path, django_user_model: Any
):
    if path == "API deployment":
        response = token_client("iac-pipeline", "write").put(
            "/api/releases/1.5/deployments/production/",
            {"namespace": "prod-v1.5", "status": "deployed"},
            format="json",
        )
        assert response.status_code == 201
    elif path == "API manifest":
        response = token_client("iac-pipeline", "write").put(
            "/api/releases/1.5/manifest",
            data=production_manifest(),
            content_type="application/yaml",
        )
        assert response.status_code == 200, response.content
    elif path == "import_manifest":
        file = tmp_path / "v1.5.yaml"
        file.write_text(production_manifest())
        call_command("import_manifest", str(file), stdout=StringIO())
    elif path == "git sync":
        repo = git_fixtures["manifests_repo"]
        repo.write("manifests/v1.5.yaml", production_manifest())
        repo.commit("deploy 1.5")
        repo.push("main")
        assert sync_manifests(git_fixtures["make_repository"]()).ok
    else:
        client = admin_client(django_user_model)
        url = reverse("admin:releases_release_change", args=[Release.objects.get(version="1.5").pk])
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
                f"deployments-{row}-status": "deployed",
                "_save": "Save",
            }
        )
        assert client.post(url, data).status_code == 302
    deployment = EnvironmentDeployment.objects.get(
        environment__name="production", release__version="1.5"
    )
    assert deployment.status == "deployed"


def test_only_a_move_into_a_live_status_is_gated(fleet: Any, tmp_path: Path):
    """1.4 is live in production already: re-importing its unchanged manifest, or changing
    its namespace, is no promotion; a planned deployment is none either."""
    SCENARIOS["freeze window"][0](fleet)  # production is frozen now
    from releases.exporting import export_release

    text = export_release("1.4")
    file = tmp_path / "v1.4.yaml"
    file.write_text(text)
    out = StringIO()
    call_command("import_manifest", str(file), stdout=out)
    assert "1.4 unchanged" in out.getvalue()

    writer = token_client("iac-pipeline", "write")
    moved = writer.patch(
        "/api/releases/1.4/deployments/production/", {"namespace": "prod-v1.4b"}, format="json"
    )
    assert moved.status_code == 200, moved.content
    planned = writer.put(
        "/api/releases/1.5/deployments/production/",
        {"namespace": "prod-v1.5", "status": "planned"},
        format="json",
    )
    assert planned.status_code == 201
    live = writer.patch(
        "/api/releases/1.5/deployments/production/", {"status": "in_progress"}, format="json"
    )
    assert live.status_code == 409
    assert [r["rule"] for r in live.json()["rules"] if not r["ok"]] == ["freeze-window"]
    assert (
        EnvironmentDeployment.objects.get(
            release__version="1.5", environment__name="production"
        ).status
        == "planned"
    )
