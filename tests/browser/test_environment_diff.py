"""The environment diff page in a real browser: reached from the deployment matrix, now and
at a past moment chosen in the form."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from registry.models import Environment, Repository
from releases import changes
from releases.edits import record_deployment
from releases.models import EnvironmentDeployment, PinDependency, Release, RepositoryPin

from ..releases.manifests import RELEASE_1_4, import_text
from .conftest import log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RELEASE_1_5 = (
    RELEASE_1_4.replace('version: "1.4"', 'version: "1.5"')
    .replace("production:", "staging:")
    .replace('namespace: "prod-v1.4"', 'namespace: "staging-v1.5"')
    .replace('tag: "v1.4.2"', 'tag: "v1.5.0"')
    .replace("def4567890abc123def4567890abc123def45678", "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432")
)


@pytest.fixture
def team_member(django_user_model: Any) -> Any:
    user = django_user_model.objects.create_user("émilie", "e@example.invalid", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name="platform team"))
    return user


def an_hour_ago() -> None:
    """Date every history record so far an hour back: the past is set through the data."""
    for model in (Release, RepositoryPin, PinDependency, EnvironmentDeployment, Environment):
        model.history.update(history_date=F("history_date") - timedelta(hours=1))
    Repository.history.update(history_date=F("history_date") - timedelta(hours=1))


def test_compare_production_and_staging_now_and_half_an_hour_ago(
    page: Any, live_server: Any, team_member: Any
):
    import_text(RELEASE_1_4)
    import_text(RELEASE_1_5, source="manifests/v1.5.yaml")
    an_hour_ago()
    half_an_hour_ago = (timezone.now() - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
    # Then 1.5 goes to production and replaces 1.4 there.
    with changes.batch(changes.ADMIN):
        record_deployment(
            Release.objects.get(version="1.5"),
            "production",
            namespace="prod-v1.5",
            deployed_at=timezone.now(),
            status="deployed",
            source=changes.ADMIN,
        )
        record_deployment(
            Release.objects.get(version="1.4"),
            "production",
            namespace="prod-v1.4",
            deployed_at=None,
            status="retired",
            source=changes.ADMIN,
        )
    log_in(page, live_server.url, "émilie")

    page.goto(live_server.url + reverse("admin:releases_release_matrix"))
    page.click("#compare-environments")
    page.fill("#id_a", "production")
    page.fill("#id_b", "staging")
    page.click("#environment-diff-form input[type=submit]")

    page.wait_for_selector("#environment-releases")
    assert page.locator("#only-in-a").inner_text() == "—"
    assert page.locator("#newest-a").inner_text() == "1.5"
    assert "Every pin is the same." in page.locator("#environment-pins").inner_text()
    screenshot(page, "environment-diff-now")
    assert (
        page.locator("#what-changed-link")
        .get_attribute("href")
        .endswith(f"/{Release.objects.get(version='1.5').pk}/changes/?since=production")
    )

    page.fill("#id_a_at", half_an_hour_ago)
    page.click("#environment-diff-form input[type=submit]")

    page.wait_for_selector("#environment-pins")
    assert page.locator("#only-in-a").inner_text() == "1.4"
    assert page.locator("#only-in-b").inner_text() == "1.5"
    assert page.locator("#pin-diff-title").inner_text() == "1.4 ↔ 1.5: 1 of 3 pins differ"
    pins = page.locator("#environment-pins tbody").inner_text()
    assert "fogpy_utils" in pins and "v1.4.2" in pins and "v1.5.0" in pins
    assert "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432" in pins
    screenshot(page, "environment-diff-past")

    page.fill("#id_b", "nowhere")
    page.click("#environment-diff-form input[type=submit]")
    assert page.locator(".errornote").inner_text() == "No environment nowhere."
