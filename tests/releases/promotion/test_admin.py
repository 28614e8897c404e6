"""The admin's other ways to a live deployment, and approvals given in the admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from registry.models import Environment
from releases.models import EnvironmentDeployment, Release
from releases.promotion.models import PromotionApproval

from ...admin_forms import post_back
from ..api.conftest import token_client
from .fleet import SCENARIOS, snapshot

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")


def planned_in_production() -> EnvironmentDeployment:
    response = token_client("iac-pipeline", "write").put(
        "/api/releases/1.5/deployments/production/",
        {"namespace": "prod-v1.5", "status": "planned"},
        format="json",
    )
    assert response.status_code == 201
    return EnvironmentDeployment.objects.get(release__version="1.5", environment__name="production")


def test_the_deployment_page_and_a_history_revert_are_gated_too(fleet: Any, superuser: Any):
    planned = planned_in_production()
    SCENARIOS["approvals missing"][0](fleet)
    client = logged_in(superuser)
    before = snapshot()
    url = reverse("admin:releases_environmentdeployment_change", args=[planned.pk])

    refused = post_back(client, url, status="deployed")

    assert refused.status_code == 200
    text = refused.content.decode()
    assert "The promotion policy of production refuses 1.5" in text
    assert "approvals: 1 of 2 approvals from release managers (by ana)" in text
    assert snapshot() == before

    # Going back to a live record of the history is a promotion like any other: the history
    # record of a live state (made here by hand) cannot be reverted to while refused.
    EnvironmentDeployment.history.filter(id=planned.pk).update(status="deployed")
    record = EnvironmentDeployment.history.filter(id=planned.pk).latest("history_id")
    revert = reverse(
        "admin:releases_environmentdeployment_simple_history", args=[planned.pk, record.pk]
    )
    before = snapshot()
    response = post_back(client, revert)
    assert response.status_code == 200
    assert "approvals: 1 of 2 approvals from release managers (by ana)" in response.content.decode()
    assert EnvironmentDeployment.objects.get(pk=planned.pk).status == "planned"
    assert snapshot()["rows"] == before["rows"]
    assert snapshot()["deployments"] == before["deployments"]


def test_approvals_are_given_in_the_admin_as_yourself_by_members_only(
    fleet: Any, django_user_model: Any
):
    PromotionApproval.objects.all().delete()
    chen = fleet["people"]["chen"]  # no release manager
    ana = fleet["people"]["ana"]
    for user in (chen, ana):
        user.is_staff = True
        user.save()
        user.user_permissions.add(
            *Permission.objects.filter(
                codename__in=["add_promotionapproval", "view_promotionapproval", "view_release"]
            )
        )
    url = reverse("admin:releases_promotionapproval_add")
    data = {
        "release": str(Release.objects.get(version="1.5").pk),
        "environment": str(Environment.objects.get(name="production").pk),
        "comment": "staging looked fine",
        "_save": "Save",
    }

    refused = logged_in(chen).post(url, data)
    assert refused.status_code == 200
    assert "chen is not a member of release managers" in refused.content.decode()
    assert not PromotionApproval.objects.exists()

    assert logged_in(ana).post(url, data).status_code == 302
    approval = PromotionApproval.objects.get()
    assert (approval.user, approval.comment) == (ana, "staging looked fine")
    assert PromotionApproval.history.get(id=approval.pk, history_type="+").history_user == ana
