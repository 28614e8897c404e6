"""A queryset's ``update()`` of deployments outside any change batch (a shell, a script) is a
batch of its own: a deployment it makes live is put to the promotion gate when that batch
ends, and a refusal rolls the update back, as for a save; what it did is in the deployment
history that soak times are counted from."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from registry.models import Environment
from releases.models import EnvironmentDeployment, Release
from releases.promotion.enforcement import PromotionRefused

from ..api.conftest import token_client
from .fleet import SCENARIOS, ago, import_text, manifest_text, snapshot

pytestmark = pytest.mark.django_db


def planned_in_production() -> None:
    EnvironmentDeployment.objects.create(
        release=Release.objects.get(version="1.5"),
        environment=Environment.objects.get(name="production"),
        namespace="prod-v1.5",
        status="planned",
    )


def deployment_of_1_5(environment: str) -> Any:
    return EnvironmentDeployment.objects.filter(
        release__version="1.5", environment__name=environment
    )


def made_deployed() -> Callable[[], int]:
    """1.5's planned production deployment, updated to deployed."""
    planned_in_production()
    return lambda: deployment_of_1_5("production").update(status="deployed")


def moved_from_staging() -> Callable[[], int]:
    """1.5's live staging deployment, updated to be production's."""
    production = Environment.objects.get(name="production")
    return lambda: deployment_of_1_5("staging").update(environment=production)


#: Bulk updates that make 1.5 live in production: each prepares and returns its update.
UPDATES: dict[str, Callable[[], Callable[[], int]]] = {
    "status": made_deployed,
    "environment": moved_from_staging,
}


@pytest.mark.parametrize("update", list(UPDATES))
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_bulk_update_that_makes_a_deployment_live_is_refused_by_its_rule(
    fleet: Any, scenario: str, update: str
):
    bulk_update = UPDATES[update]()
    breaks, rule = SCENARIOS[scenario]
    breaks(fleet)
    before = snapshot()

    with pytest.raises(PromotionRefused) as refused:
        bulk_update()

    (rejection,) = refused.value.rejections
    assert {error.path for error in rejection.errors} == {"environments.production"}
    assert [error.message.split(": ")[:2] for error in rejection.errors] == [
        ["1.5 may not go live in production", rule]
    ]
    assert snapshot() == before


@pytest.mark.parametrize("update", list(UPDATES))
def test_a_bulk_update_the_policy_allows_is_written_and_reported(fleet: Any, update: str):
    bulk_update = UPDATES[update]()
    revision = Release.objects.get(version="1.5").revision

    assert bulk_update() == 1

    assert list(deployment_of_1_5("production").values_list("status", flat=True)) == ["deployed"]
    assert Release.objects.get(version="1.5").revision == revision + 1


def test_a_bulk_update_of_deployments_live_already_is_no_promotion(fleet: Any):
    """Production is frozen: 1.3 and 1.4, live there, may be updated; 1.5, planned there,
    may not go live, and an update of all three is refused as a whole."""
    planned_in_production()
    SCENARIOS["freeze window"][0](fleet)
    before = snapshot()
    production = EnvironmentDeployment.objects.filter(environment__name="production")

    with pytest.raises(PromotionRefused) as refused:
        production.update(status="in_progress")

    assert [refusal.verdict.version for refusal in refused.value.refusals] == ["1.5"]
    assert snapshot() == before
    assert production.exclude(release__version="1.5").update(status="in_progress") == 2
    assert sorted(production.values_list("release__version", "status")) == [
        ("1.3", "in_progress"),
        ("1.4", "in_progress"),
        ("1.5", "planned"),
    ]


def staging_of_1_6() -> Any:
    return EnvironmentDeployment.objects.filter(release__version="1.6", environment__name="staging")


def live_by_import(went_live: dt.datetime) -> None:
    import_text(
        manifest_text("1.6", {"staging": {"namespace": "staging-v1.6", "deployed_at": went_live}}),
        "manifests/v1.6.yaml",
    )


def live_by_bulk_update(went_live: dt.datetime) -> None:
    import_text(
        manifest_text("1.6", {"staging": {"namespace": "staging-v1.6", "status": "planned"}}),
        "manifests/v1.6.yaml",
    )
    assert staging_of_1_6().update(status="deployed") == 1


#: Ways 1.6 went live in staging (at the moment given, its ``deployed_at`` if it says one).
WENT_LIVE: dict[str, Callable[[dt.datetime], None]] = {
    "import_manifest": live_by_import,
    "bulk update": live_by_bulk_update,
}


@pytest.mark.parametrize("went_live", list(WENT_LIVE))
def test_a_bulk_retirement_ends_the_soak(fleet: Any, went_live: str):
    """1.6 went live in staging two days ago and was retired by a bulk update an hour later:
    it soaked for an hour, not for the two days since it went live."""
    live_at = ago(days=2, hours=1)
    WENT_LIVE[went_live](live_at)

    assert staging_of_1_6().update(status="retired") == 1

    # Two days pass: the records are dated as if the writes were made then.
    records = EnvironmentDeployment.history.filter(
        release__version="1.6", environment__name="staging"
    )
    records.exclude(status="retired").update(history_date=live_at)
    records.filter(status="retired").update(history_date=live_at + dt.timedelta(hours=1))
    response = token_client("dashboard", "read").get("/api/releases/1.6/promotion/production")
    rules = {rule["rule"]: (rule["ok"], rule["message"]) for rule in response.json()["rules"]}
    assert rules["soak-time"] == (False, "live in staging for 1h of the 1d required")
    assert rules["upstream"] == (
        True,
        f"was live in staging from {live_at:%Y-%m-%d %H:%M} UTC "
        f"to {live_at + dt.timedelta(hours=1):%Y-%m-%d %H:%M} UTC",
    )
