"""Edits through the real admin: lossless when nothing changes, truthful pin state after."""

from __future__ import annotations

from textwrap import dedent

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from releases.exporting import export_release
from releases.models import EnvironmentDeployment, Release, RepositoryPin

from .admin_forms import form_data, post_back
from .releases.manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db

# What a form turns into something else when saved as posted: empty strings, NULLs,
# microseconds, blanks around text, line breaks, unicode, an explicit default status.
EDGY = dedent(
    """\
    version: "2.0-rc.1"
    created_at: "2025-01-15T10:00:00.123456Z"
    created_by: ""
    environments:
      production:
        deployed_at: "2025-01-20T14:30:00.500Z"
        namespace: "prod-v2"
      staging:
        namespace: "staging-v2"
        status: "planned"
    repositories:
      - name: "fogpy"
        tag: "v2.6.1"
        commit_sha: "abc123def4567890abc123def4567890abc123de"
        package_version: "2.6.1"
        url: "https://github.com/org/fogpy.git"
        depends_on: ["fogpy_utils"]
      - name: "fogpy_utils"
        tag: "v1.4.2"
        commit_sha: null
      - name: "chempipe-plugins"
        tag: "v3.1.0"
        commit_sha: "0123456"
        package_version: ""
    metadata:
      notes: "  Zürich release\\nsecond line  "
      ticket: "REL-140"
      ratio: 1.5
    """
)


@pytest.fixture
def staff(client: Client, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")
    client.force_login(user)
    return client


def release_url(version: str) -> str:
    return reverse("admin:releases_release_change", args=[Release.objects.get(version=version).pk])


def pin_url(name: str, version: str = "1.4") -> str:
    pin = RepositoryPin.objects.get(release__version=version, repository__name=name)
    return reverse("admin:releases_repositorypin_change", args=[pin.pk])


@pytest.mark.parametrize("text", [EDGY, RELEASE_1_4], ids=["edge values", "seed-like"])
def test_saving_a_release_unchanged_in_the_admin_leaves_its_export_byte_for_byte(
    staff: Client, text: str
):
    import_text(text)
    version = Release.objects.get().version
    before = export_release(version), export_release(version, "json")

    response = post_back(staff, release_url(version))

    assert response.status_code == 302, response.context and response.context["errors"]
    assert (export_release(version), export_release(version, "json")) == before


def test_saving_an_unchanged_pin_and_deployment_leaves_the_export_unchanged(staff: Client):
    import_text(EDGY)
    before = export_release("2.0-rc.1")
    for name in ("fogpy", "fogpy_utils", "chempipe-plugins"):
        assert post_back(staff, pin_url(name, "2.0-rc.1")).status_code == 302
    for deployment in EnvironmentDeployment.objects.all():
        url = reverse("admin:releases_environmentdeployment_change", args=[deployment.pk])
        assert post_back(staff, url).status_code == 302

    assert export_release("2.0-rc.1") == before


def test_an_unchanged_save_keeps_none_and_empty_apart(staff: Client):
    import_text(EDGY)

    post_back(staff, release_url("2.0-rc.1"))

    release = Release.objects.get()
    assert release.created_by == ""
    pins = {pin.repository.name: pin for pin in RepositoryPin.objects.select_related("repository")}
    assert pins["fogpy_utils"].commit_sha is None
    assert pins["fogpy_utils"].package_version is None
    assert pins["chempipe-plugins"].package_version == ""


def test_a_status_chosen_in_the_admin_is_written_back_even_the_default(staff: Client):
    import_text(EDGY.replace('        status: "planned"\n', ""))
    staging = EnvironmentDeployment.objects.get(environment__name="staging")
    url = reverse("admin:releases_environmentdeployment_change", args=[staging.pk])
    post_back(staff, url, status="in_progress")
    post_back(staff, url, status="deployed")

    staging.refresh_from_db()
    assert (staging.status, staging.status_explicit) == ("deployed", True)


def test_an_admin_edit_of_a_sha_clears_the_malformed_sha_finding_and_moves_the_state(
    staff: Client,
):
    import_text(RELEASE_1_4.replace("abc123def4567890abc123def4567890abc123de", "not-a-sha"))
    pin = RepositoryPin.objects.get(repository__name="fogpy")
    assert (pin.validation_state, [f["code"] for f in pin.findings]) == (
        "invalid",
        ["sha-malformed"],
    )

    response = post_back(staff, pin_url("fogpy"), commit_sha="abc123def4567890")

    assert response.status_code == 302
    pin.refresh_from_db()
    assert (pin.commit_sha, pin.findings, pin.validation_state) == (
        "abc123def4567890",
        [],
        "unchecked",
    )


def test_an_admin_edit_that_makes_a_cycle_marks_the_other_pin_too(staff: Client):
    import_text(RELEASE_1_4)
    utils = RepositoryPin.objects.get(repository__name="fogpy_utils")
    fogpy = RepositoryPin.objects.get(repository__name="fogpy")

    response = staff.post(
        reverse("admin:releases_pindependency_add"),
        {"pin": utils.pk, "depends_on": fogpy.pk, "position": 0},
    )

    assert response.status_code == 302
    fogpy.refresh_from_db()
    assert [f["code"] for f in fogpy.findings] == ["dependency-cycle"]
    assert fogpy.validation_state == "invalid"
    link = utils.dependency_links.get()
    staff.post(reverse("admin:releases_pindependency_delete", args=[link.pk]), {"post": "yes"})
    fogpy.refresh_from_db()
    assert (fogpy.findings, fogpy.validation_state) == ([], "unchecked")


def test_an_admin_tag_change_resets_online_results(staff: Client):
    import_text(RELEASE_1_4)
    online = {"code": "tag-missing", "severity": "error", "path": "", "message": "no such tag"}
    RepositoryPin.objects.filter(repository__name="fogpy").update(
        findings=[online], validation_state="invalid", validated_at=timezone.now()
    )

    post_back(staff, pin_url("fogpy"), tag="v2.6.2", package_version="2.6.2")

    pin = RepositoryPin.objects.get(repository__name="fogpy")
    assert (pin.tag, pin.findings, pin.validated_at, pin.validation_state) == (
        "v2.6.2",
        [],
        None,
        "unchecked",
    )


def test_pin_state_fields_are_read_only_in_the_admin_and_cannot_be_posted(staff: Client):
    import_text(RELEASE_1_4)
    url = pin_url("fogpy")
    page = staff.get(url)
    form = page.context["adminform"].form
    assert not {"validation_state", "findings", "validated_at", "release"} & set(form.fields)
    assert {"validation_state", "findings", "validated_at", "release"} <= set(
        page.context["adminform"].readonly_fields
    )
    other = import_text(RELEASE_1_4.replace('version: "1.4"', 'version: "1.5"')).release
    assert other is not None

    response = post_back(
        staff,
        url,
        validation_state="valid",
        findings="[]",
        validated_at_0="2025-01-01",
        validated_at_1="00:00:00",
        release=other.pk,
    )

    assert response.status_code == 302
    pin = RepositoryPin.objects.get(release__version="1.4", repository__name="fogpy")
    assert (pin.validation_state, pin.validated_at) == ("unchecked", None)
    assert not RepositoryPin.objects.filter(release=other, pk=pin.pk).exists()
    release_page = staff.get(release_url("1.4"))
    inline = release_page.context["inline_admin_formsets"][0]
    assert "validation_state" not in inline.formset.forms[0].fields
    assert "validation_state" not in form_data(release_page.content.decode()).get(
        "pins-0-validation_state", ""
    )
