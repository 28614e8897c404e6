"""The platform team's workbench in a real browser, at 1,400 pixels wide."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from registry.models import Repository
from releases.models import Release, RepositoryPin

from ..releases.manifests import RELEASE_1_4, generated_manifest, import_text
from .conftest import log_in, screenshot

# The live server answers from another thread: on PostgreSQL it sees only committed rows.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team_member(django_user_model: Any) -> Any:
    user = django_user_model.objects.create_user("émilie", "e@example.invalid", "pw", is_staff=True)
    user.groups.add(Group.objects.get(name="platform team"))
    return user


@pytest.fixture
def url(live_server: Any) -> Any:
    return lambda name, *args: live_server.url + reverse(name, args=args)


def test_log_in_and_see_releases_with_their_state_and_where_they_run(
    page: Any, live_server: Any, url: Any, team_member: Any
):
    import_text(generated_manifest(40, "2.0"), source="v2.0.yaml")
    import_text(RELEASE_1_4)

    log_in(page, live_server.url, "émilie")
    assert page.locator("#site-name").inner_text() == "Release Registry"
    page.click("#workbench a >> text=Releases")
    page.wait_for_selector("#result_list")

    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 2
    assert "prod-v1.4" in rows.nth(0).inner_text() or "prod-v1.4" in rows.nth(1).inner_text()
    assert page.locator(".rr-badge").first.inner_text() == "not checked"
    screenshot(page, "release-list")


def test_import_a_manifest_through_preview_and_confirm(
    page: Any, live_server: Any, url: Any, team_member: Any, tmp_path: Path
):
    manifest = tmp_path / "v1.4.yaml"
    manifest.write_text(RELEASE_1_4)
    log_in(page, live_server.url, "émilie")

    page.goto(url("admin:releases_release_import"))
    page.set_input_files("#id_file", str(manifest))
    page.click("input[name=_preview]")
    preview = page.locator("#import-preview")
    assert "release 1.4 (created with 3 pins)" in preview.inner_text()
    assert not Release.objects.exists()
    screenshot(page, "import-preview")

    page.click("input[name=_confirm]")
    page.wait_for_selector(".messagelist")
    assert "release 1.4 created" in page.locator(".messagelist").inner_text()
    assert Release.objects.get().pins.count() == 3
    screenshot(page, "import-confirmed")


def test_a_bad_manifest_shows_its_errors_in_the_browser(
    page: Any, live_server: Any, url: Any, team_member: Any
):
    log_in(page, live_server.url, "émilie")
    page.goto(url("admin:releases_release_import"))
    page.fill("#id_text", RELEASE_1_4.replace('tag: "v2.6.1"', 'tag: "v2.6.1 final"'))
    page.click("input[name=_preview]")

    errors = page.locator("#manifest-errors").inner_text()
    assert "repositories[0].tag (line 10)" in errors and "nothing was written" in errors
    assert not Release.objects.exists()
    screenshot(page, "import-refused")


def test_add_a_pin_to_a_stored_release(page: Any, live_server: Any, url: Any, team_member: Any):
    import_text(RELEASE_1_4)
    Repository.objects.create(name="pytroll/satpy")
    release = Release.objects.get()
    log_in(page, live_server.url, "émilie")

    page.goto(url("admin:releases_release_change", release.pk))
    page.click(".pin-table .add-row a")
    row = page.locator(".pin-table tr.dynamic-pins").last
    row.locator(".select2-selection").click()
    page.fill(".select2-search__field", "satpy")
    page.click(".select2-results__option >> text=pytroll/satpy")
    row.locator("input[name$='-tag']").fill("v0.9.1")
    row.locator("input[name$='-commit_sha']").fill("f" * 40)
    row.locator("input[name$='-position']").fill("3")
    screenshot(page, "add-pin-filled")
    page.click("input[name=_continue]")

    page.wait_for_selector(".messagelist")
    pin = RepositoryPin.objects.get(repository__name="pytroll/satpy")
    assert (pin.release_id, pin.tag, pin.commit_sha) == (release.pk, "v0.9.1", "f" * 40)
    assert "fogpy_utils" in page.locator(".pin-table").inner_text()  # depends on, shown
    screenshot(page, "add-pin-saved")


def test_see_the_deployment_matrix(page: Any, live_server: Any, url: Any, team_member: Any):
    import_text(RELEASE_1_4)
    import_text(generated_manifest(3, "2.0"), source="v2.0.yaml")
    log_in(page, live_server.url, "émilie")

    page.goto(url("admin:releases_release_matrix"))

    table = page.locator("#deployment-matrix").inner_text()
    assert "prod-v1.4" in table and "staging-2.0" in table
    screenshot(page, "deployment-matrix")


def test_clone_a_release(page: Any, live_server: Any, url: Any, team_member: Any):
    import_text(RELEASE_1_4)
    log_in(page, live_server.url, "émilie")
    page.goto(url("admin:releases_release_change", Release.objects.get().pk))

    page.click("#clone-release")
    assert page.input_value("#id_version") == "1.5"
    screenshot(page, "clone-form")
    page.click("#clone-form input[type=submit]")

    page.wait_for_selector(".messagelist")
    assert Release.objects.get(version="1.5").pins.count() == 3
    screenshot(page, "clone-done")


def test_compare_two_releases(page: Any, live_server: Any, url: Any, team_member: Any):
    import_text(RELEASE_1_4)
    import_text(
        RELEASE_1_4.replace('"1.4"', '"1.5"').replace('tag: "v1.4.2"', 'tag: "v1.4.3"'),
        source="v1.5.yaml",
    )
    log_in(page, live_server.url, "émilie")
    page.goto(url("admin:releases_release_change", Release.objects.get(version="1.5").pk))

    page.click("#compare-release")
    page.fill("input[name=right]", "1.4")
    page.click("#compare-form input[type=submit]")

    changed = page.locator("#compare-pins tr.rr-changed")
    assert changed.count() == 1 and "fogpy_utils" in changed.inner_text()
    screenshot(page, "compare")


def test_a_viewer_reads_but_cannot_edit(
    page: Any, live_server: Any, url: Any, django_user_model: Any
):
    import_text(RELEASE_1_4)
    user = django_user_model.objects.create_user(
        "auditor", "a@example.invalid", "pw", is_staff=True
    )
    user.groups.add(Group.objects.get(name="viewer"))
    log_in(page, live_server.url, "auditor")

    page.goto(url("admin:releases_release_change", Release.objects.get().pk))

    assert page.locator("input[name=_save]").count() == 0
    assert page.locator("#clone-release").count() == 0
    assert page.locator("text=Export YAML").count() == 1
    screenshot(page, "viewer-release-page")
    response = page.goto(url("admin:releases_release_import"))
    assert response is not None and response.status == 403
