"""Promotion in a real browser: a deployment the gate refuses shows every reason on its row,
and nothing is saved."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from releases.models import EnvironmentDeployment, Release

from ..releases.promotion.fleet import SCENARIOS, build_fleet
from .conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_gate_reasons_show_in_the_admin_when_a_deployment_is_refused(
    page: Any, live_server: Any, django_user_model: Any
):
    fleet = build_fleet(django_user_model)
    SCENARIOS["approvals missing"][0](fleet)
    SCENARIOS["recurring freeze across midnight in Pacific/Auckland"][0](fleet)
    member = django_user_model.objects.create_user(
        "émilie", "e@example.invalid", "pw", is_staff=True
    )
    member.groups.add(Group.objects.get(name="platform team"))
    release = Release.objects.get(version="1.5")
    log_in(page, live_server.url, "émilie")

    page.goto(live_server.url + reverse("admin:releases_release_change", args=[release.pk]))
    page.locator("#deployments-group .add-row a").click()
    row = page.locator("#deployments-group tr.dynamic-deployments").last
    row.locator("select[name$='-environment']").select_option(label="production")
    row.locator("input[name$='-namespace']").fill("prod-v1.5")
    row.locator("select[name$='-status']").select_option("deployed")
    row.locator("input[name$='-position']").fill("1")
    page.click("input[name=_continue]")

    page.wait_for_selector(".errornote")
    errors = page.locator("#deployments-group .errorlist").first.inner_text()
    assert "The promotion policy of production refuses 1.5" in errors
    assert "approvals: 1 of 2 approvals from release managers (by ana)" in errors
    assert "freeze-window: frozen: weekly maintenance until" in errors
    assert "Pacific/Auckland" in errors
    screenshot(page, "promotion-refused")
    assert not EnvironmentDeployment.objects.filter(
        release=release, environment__name="production"
    ).exists()
