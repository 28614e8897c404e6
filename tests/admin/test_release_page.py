"""The release page: pins that can be added, readable dependencies and findings, object
tools, one timeline, and a query count that does not grow with the pins."""

from __future__ import annotations

import io
import zipfile

import pytest
import yaml
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from registry.models import Repository
from releases.exporting import export_release
from releases.models import Release, RepositoryPin
from releases.validation.models import ValidationRun

from ..admin_forms import form_data, post_back
from ..releases.manifests import RELEASE_1_4, generated_manifest, import_text

pytestmark = pytest.mark.django_db


def change_url(version: str) -> str:
    return reverse("admin:releases_release_change", args=[Release.objects.get(version=version).pk])


def add_pin_data(page: str, repository: Repository, tag: str, sha: str) -> dict[str, object]:
    """The page's form as a browser posts it, with one more pin row filled in."""
    data = form_data(page)
    data.pop("csrfmiddlewaretoken", None)
    row = int(data["pins-TOTAL_FORMS"])
    data["pins-TOTAL_FORMS"] = str(row + 1)
    data.update(
        {
            f"pins-{row}-position": str(row),
            f"pins-{row}-repository": str(repository.pk),
            f"pins-{row}-tag": tag,
            f"pins-{row}-commit_sha": sha,
            f"pins-{row}-package_version": tag.removeprefix("v"),
            f"pins-{row}-url": "",
            "_continue": "Save and continue",
        }
    )
    return data


def test_a_stored_release_takes_a_new_pin_recorded_with_its_user_and_source(
    team: Client,
):
    import_text(RELEASE_1_4)
    backport = Repository.objects.create(name="pytroll/satpy-ünicode")
    url = change_url("1.4")
    revision = Release.objects.get().revision

    response = team.post(
        url, add_pin_data(team.get(url).content.decode(), backport, "v0.9.1", "f" * 40)
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    pin = RepositoryPin.objects.get(repository=backport)
    assert (pin.release.version, pin.tag, pin.commit_sha) == ("1.4", "v0.9.1", "f" * 40)
    assert Release.objects.get().revision == revision + 1
    record = pin.history.get()
    assert (record.history_user.username, record.history_change_reason) == ("émilie", "admin")
    assert "pytroll/satpy-ünicode" in export_release("1.4")
    timeline = team.get(reverse("admin:releases_release_history", args=[pin.release_id]))
    entry = timeline.context["entries"][0]
    assert (entry.user, entry.reason, entry.lines) == (
        "émilie",
        "admin",
        ["pin pytroll/satpy-ünicode v0.9.1 added"],
    )


def test_a_new_pin_with_a_bad_tag_or_a_repository_already_pinned_changes_nothing(team: Client):
    import_text(RELEASE_1_4)
    url = change_url("1.4")
    page = team.get(url).content.decode()
    before = export_release("1.4")

    bad_tag = team.post(
        url, add_pin_data(page, Repository.objects.create(name="new"), "v1 final", "")
    )
    twice = team.post(url, add_pin_data(page, Repository.objects.get(name="fogpy"), "v9.0.0", ""))

    assert bad_tag.status_code == twice.status_code == 200
    assert "is not a valid git tag name" in str(
        bad_tag.context["inline_admin_formsets"][0].formset.errors
    )
    assert "duplicate" in str(twice.context["inline_admin_formsets"][0].formset.errors)
    assert export_release("1.4") == before


def test_each_pin_shows_what_it_depends_on_and_its_findings_as_messages(staff: Client):
    import_text(RELEASE_1_4.replace("abc123def4567890abc123def4567890abc123de", "not-a-sha"))

    response = staff.get(change_url("1.4"))

    page = response.content.decode()
    rows = response.context["inline_admin_formsets"][0]
    cells = {
        form.form.instance.repository.name: {
            field.field["name"]: str(field.contents())
            for fieldset in form
            for line in fieldset
            for field in line
            if field.is_readonly
        }
        for form in rows
        if form.original
    }
    assert cells["fogpy"]["depends_on_names"] == "fogpy_utils"
    assert cells["fogpy_utils"]["depends_on_names"] == "—"
    assert "repositories[0].commit_sha: " in cells["fogpy"]["state"]
    assert "rr-state-invalid" in cells["fogpy"]["state"]
    assert '"code"' not in page  # findings are not shown as JSON
    assert "3 in 1" not in page and " in 1 (prod-v1.4)" not in page


def test_the_release_page_makes_the_same_queries_for_5_and_200_pins(staff: Client):
    def measure(pins: int) -> int:
        import_text(
            generated_manifest(pins, f"{pins}.0").replace(f'"{1:040x}"', '"not-a-sha"'),
            source=f"v{pins}.yaml",
        )
        url = change_url(f"{pins}.0")
        with CaptureQueriesContext(connection) as captured:
            assert staff.get(url).status_code == 200
        return len(captured.captured_queries)

    assert measure(5) == measure(200)


def test_object_tools_export_validate_clone_compare_and_link_the_evidence(staff: Client):
    import_text(RELEASE_1_4)
    release = Release.objects.get()

    page = staff.get(change_url("1.4")).content.decode()
    as_yaml = staff.get(reverse("admin:releases_release_export", args=[release.pk, "yaml"]))
    as_json = staff.get(reverse("admin:releases_release_export", args=[release.pk, "json"]))

    for tool in ("Export YAML", "Export JSON", "Clone as new version", "Compare"):
        assert tool in page
    assert "Validate now" in page
    assert f'href="/api/releases/{release.version}/evidence"' in page
    assert as_yaml["Content-Disposition"] == 'attachment; filename="v1.4.yaml"'
    assert as_yaml.content.decode() == export_release("1.4")
    assert as_json.content.decode() == export_release("1.4", "json")


def test_the_timeline_exports_the_release_as_it_stood_before_a_change(staff: Client):
    import_text(RELEASE_1_4)
    release = Release.objects.get()
    before = export_release("1.4")
    import_text(
        RELEASE_1_4.replace("v2.6.1", "v2.6.2").replace('"2.6.1"', '"2.6.2"'),
        source="v1.4-fix.yaml",
    )

    timeline = staff.get(reverse("admin:releases_release_history", args=[release.pk]))

    newest, first = timeline.context["entries"][0], timeline.context["entries"][-1]
    assert newest.reason == "imported from v1.4-fix.yaml"
    assert "pin fogpy changed: tag v2.6.1 → v2.6.2, package_version 2.6.1 → 2.6.2" in newest.lines
    assert first.reason == "imported from manifests/v1.4.yaml"
    assert (
        "pin fogpy v2.6.1 added" in first.lines
        and "deployment production (prod-v1.4, deployed) added" in first.lines
    )
    link = reverse("admin:releases_release_export", args=[release.pk, "yaml"])
    old = staff.get(link, {"as_of": first.when.isoformat()})
    assert old.content.decode() == before
    assert "as it stood" in timeline.content.decode()


def test_the_export_action_gives_one_file_or_a_zip(staff: Client):
    import_text(RELEASE_1_4)
    import_text(generated_manifest(3, "2.0"), source="v2.0.yaml")
    url = reverse("admin:releases_release_changelist")
    ids = {r.version: r.pk for r in Release.objects.all()}

    one = staff.post(url, {"action": "export_selected", "_selected_action": [ids["1.4"]]})
    both = staff.post(url, {"action": "export_selected", "_selected_action": list(ids.values())})

    assert one.content.decode() == export_release("1.4")
    archive = zipfile.ZipFile(io.BytesIO(both.content))
    assert sorted(archive.namelist()) == ["v1.4.yaml", "v2.0.yaml"]
    assert yaml.safe_load(archive.read("v2.0.yaml"))["version"] == "2.0"
    assert timezone.now()  # nothing written: the export is a read


def test_the_release_page_queries_do_not_grow_with_its_deployments(staff: Client):
    import_text(RELEASE_1_4)  # one deployment
    import_text(generated_manifest(3, "2.0"), source="v2.0.yaml")  # two
    staff.get(change_url("1.4"))  # caches (content types) filled

    def queries(version: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff.get(change_url(version)).status_code == 200
        return len(captured.captured_queries)

    assert queries("1.4") == queries("2.0")


def test_a_stored_release_keeps_its_version(team: Client):
    import_text(RELEASE_1_4)
    url = change_url("1.4")

    assert 'name="version"' not in team.get(url).content.decode()
    response = post_back(team, url, version="9.9")

    assert response.status_code == 302
    assert list(Release.objects.values_list("version", flat=True)) == ["1.4"]


def test_validate_now_queues_a_run_of_the_release(team: Client):
    import_text(RELEASE_1_4)
    release = Release.objects.get()
    url = reverse("admin:releases_release_validate", args=[release.pk])

    assert team.get(url).status_code == 405  # a write: POST only
    response = team.post(url)

    assert response.status_code == 302
    (run,) = ValidationRun.objects.filter(release=release)
    assert (run.requested_by, run.state) == ("émilie", "queued")


def test_a_viewer_cannot_start_a_validation_run(viewer: Client):
    import_text(RELEASE_1_4)
    release = Release.objects.get()

    response = viewer.post(reverse("admin:releases_release_validate", args=[release.pk]))

    assert response.status_code == 403
    assert not ValidationRun.objects.exists()


def test_the_release_page_says_how_far_notion_is_behind(team: Client, settings):
    settings.NOTION_TOKEN = None  # sync off: changes queue, nothing is sent
    import_text(RELEASE_1_4)

    page = team.get(change_url("1.4")).content.decode()

    pins = RepositoryPin.objects.count()
    assert f"0 page(s) in Release Views; {pins + 1} change(s) waiting to be sent" in page
