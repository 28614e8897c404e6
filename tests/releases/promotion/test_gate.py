"""The gate for pipelines: the API answer, check_promotion, approvals and its query count."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry.models import Environment
from releases.models import Release, RepositoryPin
from releases.promotion import gate
from releases.promotion.approvals import approve
from releases.promotion.models import FreezeWindow, PromotionApproval

from ..api.conftest import token_client
from .fleet import (
    MANAGERS,
    SCENARIOS,
    import_text,
    manifest_text,
    recorded_live_at,
    recorded_when_deployed,
    recurring_across_midnight,
    validated,
)

pytestmark = pytest.mark.django_db


def unmet(version: str = "1.5", environment: str = "production") -> set[str]:
    return {r.rule for r in gate.check(Release.objects.get(version=version), environment).unmet}


def test_release_1_5_meets_production_policy_until_a_scenario_breaks_one_rule(fleet: Any):
    verdict = gate.check(Release.objects.get(version="1.5"), "production")
    assert verdict.allowed, verdict.as_dict()
    assert [r.rule for r in verdict.rules] == [
        "upstream",
        "soak-time",
        "valid-pins",
        "reachable-pins",
        "freeze-window",
        "approvals",
    ]
    assert "2 of 2 approvals from release managers: ana, bjørn" in verdict.rules[-1].message


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_scenario_breaks_exactly_its_rule(fleet: Any, scenario: str):
    breaks, rule = SCENARIOS[scenario]
    breaks(fleet)
    assert unmet() == {rule}


def test_api_gate_answers_every_rule(fleet: Any):
    SCENARIOS["approvals missing"][0](fleet)
    SCENARIOS["recurring freeze across midnight in Pacific/Auckland"][0](fleet)
    reader = token_client("dashboard", "read")

    response = reader.get("/api/releases/1.5/promotion/production")

    assert response.status_code == 200
    body = response.json()
    assert body["allowed"] is False
    refused = {r["rule"]: r["message"] for r in body["rules"] if not r["ok"]}
    assert set(refused) == {"approvals", "freeze-window"}
    assert refused["approvals"] == "1 of 2 approvals from release managers (by ana)"
    assert "weekly maintenance until" in refused["freeze-window"]
    assert "Pacific/Auckland" in refused["freeze-window"]
    # An environment without a policy lets anything through, and says so by no rules; it
    # asks for no approvals, so for no pins digest.
    assert reader.get("/api/releases/1.5/promotion/qa").json() == {
        "allowed": True,
        "release": "1.5",
        "environment": "qa",
        "rules": [],
        "pins_digest": None,
    }
    assert reader.get("/api/releases/9.9/promotion/production").status_code == 404


def run_check(version: str, environment: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("check_promotion", version, environment, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def test_check_promotion_exits_1_with_reasons_then_0_once_the_rules_hold(fleet: Any):
    # 1.6 was just cut and went to staging an hour ago; nobody approved it yet.
    import_text(
        manifest_text(
            "1.6",
            {
                "staging": {
                    "namespace": "staging-v1.6",
                    "deployed_at": timezone.now() - dt.timedelta(hours=1),
                }
            },
        ),
        "manifests/v1.6.yaml",
    )
    recorded_when_deployed("1.6")  # recorded then, too
    code, output = run_check("1.6", "production")
    assert code == 1
    assert "REFUSED soak-time: live in staging for 1h of the 1d required" in output
    assert "REFUSED valid-pins: pins not valid: pytroll/fogpy (unchecked)" in output
    assert "REFUSED approvals: 0 of 2 approvals from release managers" in output
    assert "ok      upstream: live in staging since" in output
    assert "1.6 may not go live in production: soak-time, valid-pins, approvals" in output

    # The rules come to hold through the data: a day in staging, validated, two approvals.
    recorded_live_at("1.6", "staging", timezone.now() - dt.timedelta(days=2), deployed_at=True)
    validated("1.6")
    production = Environment.objects.get(name="production")
    for name in ("ana", "bjørn"):
        PromotionApproval.objects.create(
            release=Release.objects.get(version="1.6"),
            environment=production,
            user=fleet["people"][name],
            approved_at=timezone.now(),
        )

    code, output = run_check("1.6", "production")
    assert code == 0, output
    assert "REFUSED" not in output
    assert output.rstrip().endswith("1.6 may go live in production")


def test_check_promotion_on_an_unknown_release_exits_1(fleet: Any):
    code, output = run_check("7.0", "production")
    assert code == 1
    assert "no release '7.0'" in output


def test_approvals_through_the_api_one_per_user_members_only(fleet: Any, django_user_model: Any):
    from django.contrib.auth.models import Group

    Release.objects.get(version="1.5").promotion_approvals.all().delete()
    pipeline = token_client("release-bot", "write")
    reader = token_client("dashboard", "read")
    url = "/api/releases/1.5/promotion/production/approvals/"

    refused = pipeline.post(url, {"comment": "looks good"}, format="json")
    assert refused.status_code == 403
    assert "release-bot is not a member of release managers" in refused.json()["detail"]
    assert reader.post(url, {}, format="json").status_code == 403  # a read token

    django_user_model.objects.get(username="release-bot").groups.add(
        Group.objects.get(name=MANAGERS)
    )
    first = pipeline.post(url, {"comment": "soak looked clean"}, format="json")
    assert first.status_code == 201
    assert first.json()["user"] == "release-bot"
    again = pipeline.post(url, {}, format="json")
    assert again.status_code == 200
    assert PromotionApproval.objects.filter(release__version="1.5").count() == 1
    record = PromotionApproval.history.filter(user__username="release-bot").get()
    assert record.history_user.username == "release-bot"

    listed = reader.get(url).json()
    assert [(a["user"], a["comment"]) for a in listed] == [("release-bot", "soak looked clean")]
    assert unmet() == {"approvals"}  # 1 of 2
    assert "1 of 2 approvals from release managers (by release-bot)" in [
        r["message"] for r in reader.get("/api/releases/1.5/promotion/production").json()["rules"]
    ]


def test_approving_where_no_approvals_are_asked_names_the_environment(fleet: Any):
    from releases.promotion.models import PromotionPolicy

    pipeline = token_client("release-bot", "write")
    staging = pipeline.post("/api/releases/1.5/promotion/staging/approvals/", {}, format="json")
    assert staging.status_code == 403
    assert staging.json()["detail"] == (
        "staging has no promotion policy, so it asks for no approvals"
    )
    PromotionPolicy.objects.create(environment=Environment.objects.get(name="qa"))
    qa = pipeline.post("/api/releases/1.5/promotion/qa/approvals/", {}, format="json")
    assert qa.status_code == 403
    assert qa.json()["detail"] == "the promotion policy of qa asks for no approvals"
    assert not PromotionApproval.objects.filter(environment__name__in=["staging", "qa"]).exists()


def many_releases(prefix: str, count: int) -> None:
    """Releases live side by side in staging (production's policy would refuse them)."""
    for index in range(count):
        version = f"{prefix}.{index}"
        staged = timezone.now() - dt.timedelta(days=3, minutes=index)
        import_text(
            manifest_text(
                version, {"staging": {"namespace": f"staging-v{version}", "deployed_at": staged}}
            ),
            f"manifests/v{version}.yaml",
        )


def gate_queries(client: Any) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/releases/1.5/promotion/production")
    assert response.status_code == 200
    assert response.json()["allowed"] is True
    return len(queries)


def test_the_gate_costs_the_same_queries_at_10_and_200_releases(fleet: Any):
    FreezeWindow.objects.create(
        policy=fleet["policy"], name="weekly", **recurring_across_midnight(open_now=False)
    )
    reader = token_client("dashboard", "read")
    reader.get("/api/")  # the token's first use is recorded once (last_used_at)
    many_releases("3", 7)  # with the fleet's three: 10
    assert Release.objects.count() == 10
    at_10 = gate_queries(reader)
    many_releases("4", 190)
    assert Release.objects.count() == 200
    at_200 = gate_queries(reader)
    assert at_10 == at_200
    # The release (1), the policy with its upstream and freeze windows (3), the upstream
    # history (1), the pins (1: their validation, and the digest an approval must have been
    # given for), the approvals (1); the token comes from the cache.
    assert at_200 == 7


def test_a_pin_with_only_offline_warnings_is_unchecked_until_a_run_checks_it(fleet: Any):
    # 1.5's pytroll/fogpy re-tagged with a name that is no version: an offline warning (the
    # package version cannot be compared), and no run has asked the git host about the tag yet.
    pin = RepositoryPin.objects.get(release__version="1.5", repository__name="pytroll/fogpy")
    pin.tag = "nightly-2025-01-15"
    pin.save()
    pin.refresh_from_db()
    assert pin.validation_state == "warning"
    assert pin.validated_at is None

    verdict = gate.check(Release.objects.get(version="1.5"), "production")

    refused = {r.rule: r.message for r in verdict.unmet}
    assert refused == {
        "valid-pins": "pins not valid: pytroll/fogpy (unchecked)",
        # A new tag is another release to approve: the approvals were for the old one.
        "approvals": "0 of 2 approvals from release managers; "
        "2 approvals are for earlier pins (ana, bjørn)",
    }

    validated("1.5")  # the run checked it online
    assert unmet() == {"approvals"}
    for name in ("ana", "bjørn"):
        approve(Release.objects.get(version="1.5"), "production", fleet["people"][name])
    assert gate.check(Release.objects.get(version="1.5"), "production").allowed
