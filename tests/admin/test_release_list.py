"""The release list: validation badge, where each release runs, filters, search; the index."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from releases.importing import import_manifests
from releases.manifests import parse_manifest
from releases.models import RepositoryPin

from ..releases.manifests import RELEASE_1_4, generated_manifest, import_text

pytestmark = pytest.mark.django_db
LIST = reverse("admin:releases_release_changelist")


def versions_listed(client: Client, query: str = "") -> list[str]:
    response = client.get(LIST + query)
    assert response.status_code == 200
    return sorted(release.version for release in response.context["cl"].result_list)


def validated(pins, state: str) -> None:
    """Give ``pins`` the online result that makes ``state`` (states are derived from findings,
    never set by hand)."""
    severity = {"invalid": "error", "warning": "warning"}.get(state)
    for pin in pins:
        online = (
            [{"code": "sha-mismatch", "severity": severity, "path": "", "message": state}]
            if severity
            else []
        )
        pin.findings = [*pin.findings, *online]
        pin.validated_at = timezone.now()
        pin.save()
    assert {
        pin.validation_state
        for pin in RepositoryPin.objects.filter(pk__in=[pin.pk for pin in pins])
    } == {state}


def test_the_site_root_leads_to_the_branded_admin_with_releases_first(staff: Client):
    response = staff.get("/", follow=True)

    assert response.redirect_chain == [(reverse("admin:index"), 302)]
    page = response.content.decode()
    assert "Release Registry" in page and "Platform workbench" in page
    apps = [app["name"] for app in response.context["app_list"]]
    assert apps[0] == "Releases" and apps[-1] == "Operations"
    assert [m["object_name"] for m in response.context["app_list"][0]["models"]][:2] == [
        "Release",
        "RepositoryPin",
    ]
    operations = {m["object_name"] for m in response.context["app_list"][-1]["models"]}
    assert {"PeriodicTask", "CrontabSchedule"} <= operations
    for link in ("Import a manifest", "Deployment matrix", "Compare releases"):
        assert link in page


def test_each_release_shows_its_worst_pin_state_and_where_it_is_live(staff: Client, examples: None):
    pins = RepositoryPin.objects.filter(release__version="1.4")
    validated(list(pins.filter(repository__name="fogpy")), "invalid")
    validated(list(RepositoryPin.objects.filter(release__version="1.2")), "valid")

    response = staff.get(LIST)

    rows = {release.version: release for release in response.context["cl"].result_list}
    page = response.content.decode()
    assert rows["1.4"].worst_rank == 4 and rows["1.2"].worst_rank == 0
    assert 'rr-state-invalid">invalid<' in page and 'rr-state-valid">valid<' in page
    assert rows["1.4"].pin_count == RepositoryPin.objects.filter(release__version="1.4").count()
    # v1.3 is retired in staging, v1.5 only planned in production: no chips there.
    chips = {v: [d.environment.name for d in r.live_deployments] for v, r in rows.items()}
    assert chips["1.3"] == ["production"]
    assert chips["1.5"] == ["staging"]
    assert "staging-v1.3" not in page and "prod-v1.5" not in page
    assert "staging-v1.5 · in progress" in page


def test_filters_by_environment_and_validation_state(staff: Client, examples: None):
    validated(list(RepositoryPin.objects.filter(release__version="1.2")), "warning")

    assert versions_listed(staff, "?live_in=staging") == ["1.4", "1.5"]  # 1.3 retired there
    assert "1.5" not in versions_listed(staff, "?live_in=production")  # only planned
    assert versions_listed(staff, "?validation=warning") == ["1.2"]
    assert "1.2" not in versions_listed(staff, "?validation=unchecked")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("fogpy_utils", ["1.4"]),
        ("v2.6.1", ["1.4"]),
        ("abc123def4567890", ["1.4"]),  # the start of a SHA
        ("nothing-like-it", []),
    ],
)
def test_search_by_repository_tag_or_sha(staff: Client, query: str, expected: list[str]):
    import_text(RELEASE_1_4)
    import_text(generated_manifest(3, "2.0"), source="v2.0.yaml")

    assert versions_listed(staff, f"?q={query}") == expected


def test_the_release_list_makes_the_same_queries_for_10_and_200_releases(staff: Client):
    def add_releases(first: int, count: int) -> None:
        texts = [
            (f"v{n}.yaml", generated_manifest(3, f"{n}.0")) for n in range(first, first + count)
        ]
        import_manifests([(source, parse_manifest(text, source=source)) for source, text in texts])

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = staff.get(LIST + "?live_in=production&o=2")
            assert response.status_code == 200
        assert response.context["cl"].result_count >= 10
        return len(captured.captured_queries)

    add_releases(0, 10)
    at_10 = queries()
    add_releases(10, 190)
    assert queries() == at_10
