"""The change hook at its edges: catalogue renames, rows moved to another repository or
environment, bulk query writes, pins removed from under a dependency, deployments an import
keeps, online findings of a pin that moved, history without a catalogue record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import replace

import pytest
from django.test import Client
from django.urls import reverse

from registry.models import Environment, Repository
from releases import changes
from releases.changes import ReleaseChange, RowChanges
from releases.exporting import export_release, manifest_for
from releases.history import manifest_as_of
from releases.importing import import_manifests
from releases.manifests import check_manifest, parse_manifest
from releases.models import EnvironmentDeployment, Release, RepositoryPin

from ..admin_forms import post_back
from .manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db

PINS = ("chempipe-plugins", "fogpy", "fogpy_utils")
VALIDATED = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def announced() -> Iterator[list[ReleaseChange]]:
    seen: list[ReleaseChange] = []

    def receive(sender: object, change: ReleaseChange, **kwargs: object) -> None:
        seen.append(change)

    changes.release_changed.connect(receive, dispatch_uid="test-changes-edges")
    yield seen
    changes.release_changed.disconnect(dispatch_uid="test-changes-edges")


@pytest.fixture
def staff(client: Client, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")
    client.force_login(user)
    return client


def validated_online(name: str) -> RepositoryPin:
    """The pin as a clean online validation leaves it."""
    pin = RepositoryPin.objects.get(repository__name=name, release__version="1.4")
    pin.validated_at = VALIDATED
    pin.save()
    assert RepositoryPin.objects.get(pk=pin.pk).validation_state == "valid"
    return pin


def two_releases() -> None:
    import_text(RELEASE_1_4)
    import_text(RELEASE_1_4.replace('"1.4"', '"1.5"'), source="manifests/v1.5.yaml")


# --- 1. the catalogue ------------------------------------------------------------------------


def test_repository_rename_in_the_admin_reports_every_release_that_pins_it(staff, announced):
    two_releases()
    announced.clear()
    before = export_release("1.4")
    repository = Repository.objects.get(name="fogpy")

    response = post_back(
        staff,
        reverse("admin:registry_repository_change", args=[repository.pk]),
        name="pytroll/fogpy",
    )

    assert response.status_code == 302
    assert export_release("1.4") != before
    assert sorted(change.version for change in announced) == ["1.4", "1.5"]
    for change in announced:
        assert change.pins == RowChanges(created=("pytroll/fogpy",), deleted=("fogpy",))
        assert change.revision == 2  # bumped once
    assert manifest_for("1.5").repositories[0].name == "pytroll/fogpy"


def test_repository_rename_from_a_shell_is_one_batch(announced):
    two_releases()
    announced.clear()

    Repository(pk=Repository.objects.get(name="fogpy_utils").pk, name="org/utils").save()

    assert [(c.version, c.source, c.pins) for c in sorted(announced, key=lambda c: c.version)] == [
        ("1.4", changes.DIRECT, RowChanges(created=("org/utils",), deleted=("fogpy_utils",))),
        ("1.5", changes.DIRECT, RowChanges(created=("org/utils",), deleted=("fogpy_utils",))),
    ]


def test_environment_rename_reports_every_release_deployed_there(staff, announced):
    two_releases()
    announced.clear()
    environment = Environment.objects.get(name="production")

    post_back(
        staff, reverse("admin:registry_environment_change", args=[environment.pk]), name="prod"
    )

    assert sorted(change.version for change in announced) == ["1.4", "1.5"]
    for change in announced:
        assert change.deployments == RowChanges(created=("prod",), deleted=("production",))
        assert change.revision == 2
    assert list(manifest_for("1.4").environments) == ["prod"]


def test_environment_display_order_change_reports_nothing(announced):
    import_text(RELEASE_1_4)
    announced.clear()
    environment = Environment.objects.get(name="production")

    environment.display_order = 7
    environment.save()

    assert announced == []
    assert Release.objects.get().revision == 1


def test_repository_git_url_change_resets_online_results_of_pins_without_a_url(staff, announced):
    import_text(RELEASE_1_4)
    pin = validated_online("fogpy")
    assert pin.url == ""  # validated against the repository's URL
    announced.clear()
    repository = Repository.objects.get(name="fogpy")

    post_back(
        staff,
        reverse("admin:registry_repository_change", args=[repository.pk]),
        git_url="https://gitlab.com/other/fogpy.git",
    )

    pin.refresh_from_db()
    assert (pin.validation_state, pin.validated_at) == ("unchecked", None)
    (change,) = announced
    assert change.pins == RowChanges(changed=("fogpy",))


def test_repository_git_url_change_keeps_online_results_of_a_pin_with_its_own_url(announced):
    import_text(
        RELEASE_1_4.replace(
            '    tag: "v2.6.1"\n',
            '    tag: "v2.6.1"\n    url: "https://github.com/pytroll/fogpy.git"\n',
        )
    )
    pin = validated_online("fogpy")
    announced.clear()
    repository = Repository.objects.get(name="fogpy")

    repository.git_url = "https://gitlab.com/other/fogpy.git"
    repository.save()

    pin.refresh_from_db()
    assert (pin.validation_state, pin.validated_at) == ("valid", VALIDATED)
    assert announced == []


def test_repository_package_name_change_resets_online_results_of_every_pin(announced):
    two_releases()
    validated_online("fogpy")
    announced.clear()
    repository = Repository.objects.get(name="fogpy")

    repository.package_name = "pytroll-fogpy"
    repository.save()

    states = set(
        RepositoryPin.objects.filter(repository=repository).values_list(
            "validation_state", "validated_at"
        )
    )
    assert states == {("unchecked", None)}
    assert [c.pins for c in announced] == [RowChanges(changed=("fogpy",))] * 2


# --- 2. bulk query writes ----------------------------------------------------------------------


def test_queryset_delete_of_a_release_is_one_change_with_its_rows(announced):
    import_text(RELEASE_1_4)
    announced.clear()
    release = Release.objects.get()

    Release.objects.filter(version="1.4").delete()

    (change,) = announced
    assert (change.release_id, change.release, change.revision) == (release.pk, "deleted", None)
    assert change.pins == RowChanges(deleted=PINS)
    assert change.deployments == RowChanges(deleted=("production",))


def test_queryset_delete_of_pins_is_one_change(announced):
    import_text(RELEASE_1_4)
    announced.clear()

    RepositoryPin.objects.filter(repository__name__startswith="fogpy").delete()

    (change,) = announced
    assert change.pins == RowChanges(
        changed=("chempipe-plugins",), deleted=("fogpy", "fogpy_utils")
    )
    assert Release.objects.get().revision == 2


def test_queryset_update_outside_a_batch_reports_the_release_and_rechecks_it(announced):
    import_text(RELEASE_1_4)
    announced.clear()

    RepositoryPin.objects.filter(repository__name="fogpy").update(commit_sha="zzz")

    (change,) = announced
    assert (change.source, change.pins, change.revision) == (
        changes.DIRECT,
        RowChanges(changed=("fogpy",)),
        2,
    )
    pin = RepositoryPin.objects.get(repository__name="fogpy")
    assert pin.validation_state == "invalid"  # the malformed SHA was found
    assert [f["path"] for f in pin.findings] == ["repositories[0].commit_sha"]


def test_queryset_update_inside_a_batch_is_the_writers_to_report(announced):
    import_text(RELEASE_1_4)
    announced.clear()

    with changes.batch(changes.API):
        Release.objects.filter(version="1.4").update(notes="quiet")

    assert announced == []


# --- 3. and 4. a pin's repository, a deployment's environment ---------------------------------


def test_pin_moved_to_another_repository_resets_online_results_and_reports_both_names(
    staff, announced
):
    import_text(RELEASE_1_4)
    pin = validated_online("fogpy_utils")
    other = Repository.objects.create(name="org/utils")
    announced.clear()

    response = post_back(
        staff,
        reverse("admin:releases_repositorypin_change", args=[pin.pk]),
        repository=str(other.pk),
    )

    assert response.status_code == 302
    pin.refresh_from_db()
    assert (pin.repository_id, pin.validation_state, pin.validated_at) == (
        other.pk,
        "unchecked",
        None,
    )
    (change,) = announced
    assert (change.pins.created, change.pins.deleted) == (("org/utils",), ("fogpy_utils",))


def test_deployment_moved_to_another_environment_reports_both_names(staff, announced):
    import_text(RELEASE_1_4)
    deployment = EnvironmentDeployment.objects.get()
    staging = Environment.objects.create(name="staging")
    announced.clear()

    response = post_back(
        staff,
        reverse("admin:releases_environmentdeployment_change", args=[deployment.pk]),
        environment=str(staging.pk),
    )

    assert response.status_code == 302
    (change,) = announced
    assert change.deployments == RowChanges(created=("staging",), deleted=("production",))


# --- 5. the importer ---------------------------------------------------------------------------


def test_import_removing_a_pin_reports_the_pin_that_depended_on_it(announced):
    import_text(RELEASE_1_4)
    announced.clear()
    manifest = parse_manifest(RELEASE_1_4)
    fogpy, _utils, chem = manifest.repositories

    import_manifests(
        [("c.yaml", replace(manifest, repositories=(replace(fogpy, depends_on=()), chem)))]
    )

    (change,) = announced
    # chempipe-plugins moved up a place.
    assert change.pins == RowChanges(changed=PINS[:2], deleted=("fogpy_utils",))
    assert list(RepositoryPin.objects.get(repository__name="fogpy").depends_on.all()) == []


# --- 6. deployments an import keeps ------------------------------------------------------------


def test_import_keeps_the_findings_of_a_deployment_recorded_elsewhere():
    import_text(RELEASE_1_4)
    release = Release.objects.get()
    staging = Environment.objects.create(name="staging")
    # Recorded in the admin: deployed before the release was created.
    EnvironmentDeployment.objects.create(
        release=release,
        environment=staging,
        namespace="stg",
        deployed_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        position=1,
    )
    release.refresh_from_db()
    assert [f["code"] for f in release.findings] == ["deployed-before-created"]

    import_text(RELEASE_1_4.replace('"Production release"', '"Hotfix"'))

    release.refresh_from_db()
    assert list(manifest_for("1.4").environments) == ["production", "staging"]
    assert [f["code"] for f in release.findings] == ["deployed-before-created"]
    expected = [
        f.as_dict()
        for f in check_manifest(manifest_for("1.4"))
        if not f.path.startswith("repositories")
    ]
    assert release.findings == expected


# --- 9. online findings follow the pin ---------------------------------------------------------


def test_online_findings_follow_the_pin_to_its_new_position():
    import_text(RELEASE_1_4)
    pin = RepositoryPin.objects.get(repository__name="chempipe-plugins")  # repositories[2]
    pin.findings = [
        *pin.findings,
        {
            "code": "tag-missing",
            "severity": "error",
            "path": "repositories[2].tag",
            "message": "no such tag",
        },
    ]
    pin.validated_at = VALIDATED
    pin.save()
    first = '  - name: "new/one"\n    tag: "v1"\n    commit_sha: null\n    package_version: null\n'

    import_text(RELEASE_1_4.replace("repositories:\n", "repositories:\n" + first))

    pin.refresh_from_db()
    assert pin.position == 3
    assert [(f["code"], f["path"]) for f in pin.findings] == [
        ("tag-missing", "repositories[3].tag")
    ]
    assert pin.validation_state == "invalid"


# --- 8. history -------------------------------------------------------------------------------


def test_point_in_time_without_a_catalogue_record_uses_the_current_name():
    import_text(RELEASE_1_4)
    Repository.history.filter(name="fogpy").delete()
    Environment.history.all().delete()

    manifest = manifest_as_of("1.4", dt.datetime.now(dt.UTC))

    assert manifest is not None
    assert [entry.name for entry in manifest.repositories] == [
        "fogpy",
        "fogpy_utils",
        "chempipe-plugins",
    ]
    assert list(manifest.environments) == ["production"]
