"""Soak time counts from when the registry recorded the upstream deployment live (or from its
``deployed_at``, if that is later), never from a ``deployed_at`` claimed in the past: a
manifest or an API write cannot backdate its way past the soak."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from releases.manifests import format_timestamp
from releases.models import EnvironmentDeployment, Release
from releases.promotion.approvals import approve

from ..api.conftest import token_client
from .fleet import (
    import_text,
    manifest_text,
    production_manifest,
    recorded_live_at,
    snapshot,
    validated,
)
from .test_gate import run_check

pytestmark = pytest.mark.django_db

GATE = "/api/releases/1.6/promotion/production"


def a_week_ago() -> dt.datetime:
    return (timezone.now() - dt.timedelta(days=7)).replace(microsecond=0)


def staged_by_manifest_import(tmp_path: Path) -> None:
    path = tmp_path / "v1.6.yaml"
    path.write_text(
        manifest_text(
            "1.6", {"staging": {"namespace": "staging-v1.6", "deployed_at": a_week_ago()}}
        )
    )
    call_command("import_manifest", str(path), stdout=StringIO())


def staged_by_api_deployment(tmp_path: Path) -> None:
    import_text(manifest_text("1.6", {}), "manifests/v1.6.yaml")
    response = token_client("staging-pipeline", "write").put(
        "/api/releases/1.6/deployments/staging/",
        {
            "namespace": "staging-v1.6",
            "deployed_at": format_timestamp(a_week_ago()),
            "status": "deployed",
        },
        format="json",
    )
    assert response.status_code == 201, response.content


def staged_by_api_manifest(tmp_path: Path) -> None:
    response = token_client("staging-pipeline", "write").put(
        "/api/releases/1.6/manifest",
        data=manifest_text(
            "1.6", {"staging": {"namespace": "staging-v1.6", "deployed_at": a_week_ago()}}
        ),
        content_type="application/yaml",
    )
    assert response.status_code == 201, response.content


#: Ways 1.6 goes to staging now, claiming it went there a week ago.
STAGED: dict[str, Callable[[Path], None]] = {
    "import_manifest": staged_by_manifest_import,
    "API deployment": staged_by_api_deployment,
    "API manifest": staged_by_api_manifest,
}


def refused_rules(response: Any) -> dict[str, str]:
    return {r["rule"]: r["message"] for r in response.json()["rules"] if not r["ok"]}


def refused_in_production(writer: Any, version: str) -> None:
    """Recording ``version`` as deployed in production through the API is refused for its
    soak time alone."""
    deploy = writer.put(
        f"/api/releases/{version}/deployments/production/",
        {"namespace": f"prod-v{version}", "status": "deployed"},
        format="json",
    )
    assert deploy.status_code == 409, deploy.content
    assert set(refused_rules(deploy)) == {"soak-time"}


@pytest.mark.parametrize("staged", list(STAGED))
def test_a_deployed_at_a_week_back_recorded_now_does_not_satisfy_a_day_of_soak(
    fleet: Any, staged: str, tmp_path: Path
):
    STAGED[staged](tmp_path)
    staging = EnvironmentDeployment.objects.get(release__version="1.6", environment__name="staging")
    claimed = staging.deployed_at
    assert claimed is not None and claimed < timezone.now() - dt.timedelta(days=6)  # kept
    validated("1.6")
    release = Release.objects.get(version="1.6")
    for name in ("ana", "bjørn"):
        approve(release, "production", fleet["people"][name])

    # The gate for pipelines and check_promotion: only the soak is unmet, and they say why.
    reader = token_client("dashboard", "read")
    answer = reader.get(GATE)
    assert answer.json()["allowed"] is False
    refused = refused_rules(answer)
    assert set(refused) == {"soak-time"}
    assert refused["soak-time"].startswith("live in staging for 0m of the 1d required")
    assert ", when the registry recorded it live, not from its deployed_at " in refused["soak-time"]
    code, output = run_check("1.6", "production")
    assert code == 1
    assert "REFUSED soak-time: live in staging for 0m of the 1d required" in output

    # Recording 1.6 in production is refused on the API and by import_manifest.
    before = snapshot()
    writer = token_client("iac-pipeline", "write")
    refused_in_production(writer, "1.6")
    path = tmp_path / "v1.6-production.yaml"
    path.write_text(production_manifest("1.6"))
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_manifest", str(path), stdout=StringIO(), stderr=err)
    assert "1.6 may not go live in production: soak-time: live in staging for 0m" in err.getvalue()
    assert snapshot() == before

    # The registry recorded it a day ago (the claim is still a week): the soak is over.
    recorded_live_at("1.6", "staging", timezone.now() - dt.timedelta(days=1, minutes=5))
    assert reader.get(GATE).json()["allowed"] is True
    assert run_check("1.6", "production")[0] == 0
    deploy = writer.put(
        "/api/releases/1.6/deployments/production/",
        {"namespace": "prod-v1.6", "status": "deployed"},
        format="json",
    )
    assert deploy.status_code == 201, deploy.content


def test_a_deployed_at_later_than_the_record_counts_from_the_later(fleet: Any):
    """A deployment recorded two days ago as going live an hour ago has soaked an hour."""
    later = (timezone.now() - dt.timedelta(hours=1)).replace(microsecond=0)
    import_text(
        manifest_text("1.6", {"staging": {"namespace": "staging-v1.6", "deployed_at": later}}),
        "manifests/v1.6.yaml",
    )
    recorded_live_at("1.6", "staging", timezone.now() - dt.timedelta(days=2))
    validated("1.6")
    for name in ("ana", "bjørn"):
        approve(Release.objects.get(version="1.6"), "production", fleet["people"][name])

    refused = refused_rules(token_client("dashboard", "read").get(GATE))

    assert refused == {
        "soak-time": "live in staging for 1h of the 1d required; allowed from "
        f"{(later + dt.timedelta(days=1)).strftime('%Y-%m-%d %H:%M')} UTC"
    }


GATE_1_5 = "/api/releases/1.5/promotion/production"


def staging_edited_by_api(deployed_at: dt.datetime, tmp_path: Path) -> None:
    response = token_client("staging-pipeline", "write").patch(
        "/api/releases/1.5/deployments/staging/",
        {"deployed_at": format_timestamp(deployed_at)},
        format="json",
    )
    assert response.status_code == 200, response.content


def staging_edited_by_import(deployed_at: dt.datetime, tmp_path: Path) -> None:
    path = tmp_path / "v1.5.yaml"
    path.write_text(
        manifest_text("1.5", {"staging": {"namespace": "staging-v1.5", "deployed_at": deployed_at}})
    )
    out = StringIO()
    call_command("import_manifest", str(path), stdout=out)
    assert "1.5 updated" in out.getvalue()


#: Ways 1.5's live staging deployment gets another deployed_at.
EDITED: dict[str, Callable[[dt.datetime, Path], None]] = {
    "API deployment": staging_edited_by_api,
    "import_manifest": staging_edited_by_import,
}


@pytest.mark.parametrize("edited", list(EDITED))
def test_a_new_deployed_at_of_a_live_deployment_starts_its_soak_again(
    fleet: Any, edited: str, tmp_path: Path
):
    """1.5 has soaked in staging for three days; redeployed there (a later deployed_at), its
    soak counts from the new deployed_at."""
    reader = token_client("dashboard", "read")
    writer = token_client("iac-pipeline", "write")
    renamed = writer.patch(
        "/api/releases/1.5/deployments/staging/", {"namespace": "staging-v1.5b"}, format="json"
    )
    assert renamed.status_code == 200, renamed.content
    assert reader.get(GATE_1_5).json()["allowed"] is True  # no new deployed_at: no new soak

    redeployed = (timezone.now() + dt.timedelta(hours=1)).replace(microsecond=0)
    EDITED[edited](redeployed, tmp_path)

    refused = refused_rules(reader.get(GATE_1_5))
    assert refused == {
        "soak-time": "live in staging for 0m of the 1d required; allowed from "
        f"{(redeployed + dt.timedelta(days=1)).strftime('%Y-%m-%d %H:%M')} UTC"
    }
    before = snapshot()
    refused_in_production(writer, "1.5")
    assert snapshot() == before


@pytest.mark.parametrize("edited", list(EDITED))
def test_a_backdated_deployed_at_of_a_live_deployment_earns_no_soak(
    fleet: Any, edited: str, tmp_path: Path
):
    """1.5 has soaked in staging for three days; its deployed_at edited to a week back, it is
    counted from the edit, not from the week-old claim (nor from three days ago)."""
    claimed = a_week_ago()

    EDITED[edited](claimed, tmp_path)

    refused = refused_rules(token_client("dashboard", "read").get(GATE_1_5))
    assert set(refused) == {"soak-time"}
    assert refused["soak-time"].startswith("live in staging for 0m of the 1d required")
    assert refused["soak-time"].endswith(
        f", when the registry recorded it live, not from its deployed_at "
        f"{claimed.strftime('%Y-%m-%d %H:%M')} UTC"
    )
    code, output = run_check("1.5", "production")
    assert code == 1
    assert "REFUSED soak-time: live in staging for 0m of the 1d required" in output
