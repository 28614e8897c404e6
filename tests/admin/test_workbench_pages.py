"""Clone, compare, the deployment matrix (now and as of a date), and who may do what."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from releases.cloning import next_version
from releases.exporting import export_release
from releases.models import EnvironmentDeployment, Release

from ..admin_forms import post_back
from ..releases.manifests import RELEASE_1_4, generated_manifest, import_text

pytestmark = pytest.mark.django_db
COMPARE = reverse("admin:releases_release_compare")
MATRIX = reverse("admin:releases_release_matrix")


def clone_url(version: str) -> str:
    return reverse("admin:releases_release_clone", args=[Release.objects.get(version=version).pk])


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.4", "1.5"),
        ("1.4.2", "1.4.3"),
        ("2.0-rc.1", "2.0-rc.2"),
        ("1.9", "1.10"),
        ("main", "main.1"),
    ],
)
def test_a_clone_is_offered_the_next_version(version: str, expected: str):
    assert next_version(version) == expected


def test_a_clone_is_a_new_release_with_the_same_pins_and_no_deployments(team: Client):
    import_text(RELEASE_1_4)
    page = team.get(clone_url("1.4"))
    assert page.context["form"].initial == {"version": "1.5"}

    response = team.post(clone_url("1.4"), {"version": "1.4.1"})

    clone = Release.objects.get(version="1.4.1")
    assert response["Location"] == reverse("admin:releases_release_change", args=[clone.pk])
    old, new = export_release("1.4"), export_release("1.4.1")
    pins = lambda text: text[text.index("repositories:") : text.index("metadata:")]  # noqa: E731
    assert pins(old) == pins(new)
    assert not clone.deployments.exists() and clone.created_by == "émilie"
    record = clone.history.get()
    assert (record.history_user.username, record.history_change_reason) == (
        "émilie",
        "imported from clone of 1.4",
    )


@pytest.mark.parametrize(
    ("version", "message"), [("1.4", "release 1.4 already exists"), ("1 4", "version")]
)
def test_a_clone_to_a_stored_or_malformed_version_is_refused_and_writes_nothing(
    team: Client, version: str, message: str
):
    import_text(RELEASE_1_4)
    before = export_release("1.4")

    response = team.post(clone_url("1.4"), {"version": version})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert Release.objects.count() == 1 and export_release("1.4") == before


def test_compare_shows_two_releases_side_by_side_with_changed_pins_marked(staff: Client):
    import_text(RELEASE_1_4)
    import_text(
        RELEASE_1_4.replace('"1.4"', '"1.5"').replace('tag: "v1.4.2"', 'tag: "v1.4.3"'),
        source="v1.5.yaml",
    )

    response = staff.get(COMPARE, {"left": "1.4", "right": "1.5"})

    comparison = response.context["comparison"]
    status = {row.name: (row.status, row.changed) for row in comparison.pins}
    assert status == {
        "fogpy": ("same", set()),
        "fogpy_utils": ("changed", {"tag"}),
        "chempipe-plugins": ("same", set()),
    }
    page = response.content.decode()
    assert "1 of 3 pins differ" in page and 'class="rr-changed"' in page
    unknown = staff.get(COMPARE, {"left": "1.4", "right": "9.9"})
    assert "unknown release version(s): 9.9" in unknown.content.decode()


def test_the_matrix_shows_where_each_release_runs_and_where_it_ran(staff: Client):
    import_text(RELEASE_1_4)
    import_text(generated_manifest(2, "2.0"), source="v2.0.yaml")
    moment = timezone.now()
    production = EnvironmentDeployment.objects.get(release__version="1.4")
    production.status = "retired"
    production.save()
    Release.objects.get(version="2.0").delete()

    now = staff.get(MATRIX)
    then = staff.get(MATRIX, {"as_of": moment.isoformat()})
    before_all = staff.get(MATRIX, {"as_of": "2000-01-01T00:00:00"})

    rows = {version: cells for _, version, cells in now.context["matrix"].rows}
    assert list(rows) == ["1.4"]
    assert now.context["matrix"].environments[:2] == ["production", "staging"]
    assert rows["1.4"][0].status == "retired" and rows["1.4"][0].namespace == "prod-v1.4"
    past = {version: cells for _, version, cells in then.context["matrix"].rows}
    assert list(past) == ["2.0", "1.4"]
    assert past["1.4"][0].status == "deployed"
    assert past["2.0"][1].namespace == "staging-2.0"
    assert past["1.4"][0].deployed_at == dt.datetime(2025, 1, 20, 14, 30, tzinfo=dt.UTC)
    assert before_all.context["matrix"].rows == []
    assert "prod-v1.4" in then.content.decode()


def test_the_matrix_makes_the_same_queries_for_few_and_many_releases(staff: Client):
    def queries() -> list[int]:
        counts = []
        for params in ({}, {"as_of": timezone.now().isoformat()}):
            with CaptureQueriesContext(connection) as captured:
                assert staff.get(MATRIX, params).status_code == 200
            counts.append(len(captured.captured_queries))
        return counts

    import_text(generated_manifest(2, "1.0"), source="v1.0.yaml")
    few = queries()
    for n in range(2, 30):
        import_text(generated_manifest(2, f"{n}.0"), source=f"v{n}.yaml")
    assert queries() == few


def test_the_groups_exist_and_a_viewer_reads_but_cannot_change(viewer: Client):
    import_text(RELEASE_1_4)
    team = set(
        Group.objects.get(name="platform team").permissions.values_list("codename", flat=True)
    )
    assert {"add_release", "change_repositorypin", "delete_environmentdeployment"} <= team
    readers = set(Group.objects.get(name="viewer").permissions.values_list("codename", flat=True))
    assert readers and all(codename.startswith("view_") for codename in readers)
    release = Release.objects.get()
    url = reverse("admin:releases_release_change", args=[release.pk])

    page = viewer.get(url).content.decode()

    assert "Export YAML" in page and "Clone as new version" not in page
    assert 'name="_save"' not in page
    assert post_back(viewer, url, notes="hacked").status_code == 403
    assert viewer.get(clone_url("1.4")).status_code == 403
    assert viewer.get(MATRIX).status_code == 200 and viewer.get(COMPARE).status_code == 200
    assert Release.objects.get().notes == "Production release"


def test_a_platform_team_member_edits_and_the_history_names_them(team: Client):
    import_text(RELEASE_1_4)
    url = reverse("admin:releases_release_change", args=[Release.objects.get().pk])

    assert post_back(team, url, notes="Backport of the fog fix").status_code == 302

    record = Release.history.order_by("-history_date").first()
    assert (record.notes, record.history_user.username, record.history_change_reason) == (
        "Backport of the fog fix",
        "émilie",
        "admin",
    )
