"""Every write path reports exactly its change, once, and bumps the release's revision once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import Environment, Repository
from releases import changes
from releases.changes import ReleaseChange, RowChanges
from releases.importing import import_manifests
from releases.manifests import parse_manifest
from releases.models import EnvironmentDeployment, PinDependency, Release, RepositoryPin

from ..admin_forms import post_back
from .manifests import RELEASE_1_4, generated_manifest, import_text

pytestmark = pytest.mark.django_db

PINS = ("chempipe-plugins", "fogpy", "fogpy_utils")


@pytest.fixture
def announced() -> Iterator[list[ReleaseChange]]:
    seen: list[ReleaseChange] = []

    def receive(sender: object, change: ReleaseChange, **kwargs: object) -> None:
        # Sent inside the transaction that made the change.
        assert connection.in_atomic_block
        seen.append(change)

    changes.release_changed.connect(receive, dispatch_uid="test-changes")
    yield seen
    changes.release_changed.disconnect(dispatch_uid="test-changes")


@pytest.fixture
def staff(client: Client, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")
    client.force_login(user)
    return client


def revision(version: str = "1.4") -> int:
    return Release.objects.get(version=version).revision


def test_import_create_reports_the_release_its_pins_and_deployments(announced):
    user = get_user_model().objects.create_user("release-bot")

    import_text(RELEASE_1_4, user=user)

    (change,) = announced
    release = Release.objects.get()
    assert change == ReleaseChange(
        release_id=release.pk,
        version="1.4",
        revision=1,
        release="created",
        pins=RowChanges(created=PINS),
        deployments=RowChanges(created=("production",)),
        source="import manifests/v1.4.yaml",
        user_id=user.pk,
        actor="release-bot",
    )
    assert release.revision == 1


def test_import_update_reports_what_changed_only(announced):
    import_text(RELEASE_1_4)
    announced.clear()
    edited = (
        RELEASE_1_4.replace('tag: "v3.1.0"', 'tag: "v3.1.1"')
        .replace('"3.1.0"', '"3.1.1"')
        .replace('    depends_on: ["fogpy_utils"]\n', "")
        .replace('    namespace: "prod-v1.4"\n', '    namespace: "prod-v1.4b"\n')
    )

    import_text(edited, source="b/v1.4.yaml")

    (change,) = announced
    assert (change.release, change.revision, change.source) == (None, 2, "import b/v1.4.yaml")
    assert change.pins == RowChanges(changed=("chempipe-plugins", "fogpy"))
    assert change.deployments == RowChanges(changed=("production",))
    assert revision() == 2


def test_import_of_a_changed_release_field_and_a_removed_pin(announced):
    import_text(RELEASE_1_4)
    announced.clear()
    manifest = parse_manifest(RELEASE_1_4.replace('"Production release"', '"Hotfix"'))
    from dataclasses import replace

    shorter = replace(manifest, repositories=manifest.repositories[:2])

    import_manifests([("c.yaml", shorter)])

    (change,) = announced
    assert change.release == "changed"
    assert change.pins == RowChanges(deleted=("chempipe-plugins",))


def test_an_unchanged_import_and_a_dry_run_report_nothing_and_keep_the_revision(announced):
    import_text(RELEASE_1_4)
    announced.clear()

    import_text(RELEASE_1_4)
    import_text(RELEASE_1_4.replace('tag: "v3.1.0"', 'tag: "v3.1.1"'), dry_run=True)
    import_text(RELEASE_1_4.replace('version: "1.4"', 'version: "1.5"'), dry_run=True)

    assert announced == []
    assert revision() == 1


def test_a_many_file_import_reports_each_release_with_its_file(announced):
    import_manifests(
        [
            ("a/v1.4.yaml", parse_manifest(RELEASE_1_4)),
            ("a/v1.5.yaml", parse_manifest(RELEASE_1_4.replace('"1.4"', '"1.5"'))),
        ]
    )

    assert sorted((c.version, c.source, c.revision) for c in announced) == [
        ("1.4", "import a/v1.4.yaml", 1),
        ("1.5", "import a/v1.5.yaml", 1),
    ]


def test_admin_add_with_inlines_is_one_change(staff: Client, announced):
    repo = Repository.objects.create(name="nova")
    env = Environment.objects.create(name="production")
    data = {
        "version": "3.0",
        "pins-TOTAL_FORMS": "1",
        "pins-INITIAL_FORMS": "0",
        "pins-0-position": "0",
        "pins-0-repository": str(repo.pk),
        "pins-0-tag": "v1.0.0",
        "pins-0-commit_sha": "not-a-sha",
        "deployments-TOTAL_FORMS": "1",
        "deployments-INITIAL_FORMS": "0",
        "deployments-0-position": "0",
        "deployments-0-environment": str(env.pk),
        "deployments-0-namespace": "prod-v3",
        "deployments-0-status": "deployed",
        "_save": "Save",
    }

    response = staff.post(reverse("admin:releases_release_add"), data)

    assert response.status_code == 302
    (change,) = announced
    assert (change.version, change.release, change.revision) == ("3.0", "created", 1)
    assert change.pins == RowChanges(created=("nova",))
    assert change.deployments == RowChanges(created=("production",))
    assert (change.source, change.actor) == ("admin", "admin")
    # The offline checks ran for the new pin.
    pin = RepositoryPin.objects.get()
    assert (pin.validation_state, [f["code"] for f in pin.findings]) == (
        "invalid",
        ["sha-malformed"],
    )


def test_admin_change_with_inlines_is_one_change_and_one_bump(staff: Client, announced):
    import_text(RELEASE_1_4)
    announced.clear()
    release = Release.objects.get()
    url = reverse("admin:releases_release_change", args=[release.pk])
    pins = list(release.pins.order_by("position"))

    response = post_back(
        staff,
        url,
        notes="Hotfix",
        **{
            "pins-0-tag": "v2.6.2",
            "pins-0-package_version": "2.6.2",
            "pins-2-commit_sha": "0123456789abcdef",
            "deployments-0-namespace": "prod-v1.4b",
        },
    )

    assert response.status_code == 302
    (change,) = announced
    assert (change.release, change.revision) == ("changed", 2)
    assert change.pins == RowChanges(changed=(pins[2].repository.name, pins[0].repository.name))
    assert change.deployments == RowChanges(changed=("production",))
    assert revision() == 2


def test_admin_save_without_changes_reports_nothing(staff: Client, announced):
    import_text(RELEASE_1_4)
    announced.clear()

    post_back(staff, reverse("admin:releases_release_change", args=[Release.objects.get().pk]))

    assert announced == []
    assert revision() == 1


def test_admin_delete_of_a_release_is_one_change(staff: Client, announced):
    import_text(RELEASE_1_4)
    announced.clear()
    release = Release.objects.get()

    staff.post(reverse("admin:releases_release_delete", args=[release.pk]), {"post": "yes"})

    (change,) = announced
    assert (change.release_id, change.version, change.release) == (release.pk, "1.4", "deleted")
    assert change.revision is None
    assert change.pins == RowChanges(deleted=PINS)
    assert change.deployments == RowChanges(deleted=("production",))


def test_admin_delete_of_a_pin_reports_it_and_the_pin_that_depended_on_it(staff: Client, announced):
    import_text(RELEASE_1_4)
    announced.clear()
    utils = RepositoryPin.objects.get(repository__name="fogpy_utils")

    staff.post(reverse("admin:releases_repositorypin_delete", args=[utils.pk]), {"post": "yes"})

    (change,) = announced
    assert change.release is None
    assert change.pins == RowChanges(changed=("fogpy",), deleted=("fogpy_utils",))
    assert revision() == 2
    assert PinDependency.objects.count() == 1  # chempipe-plugins -> fogpy


def test_admin_edit_of_a_deployment(staff: Client, announced):
    import_text(RELEASE_1_4)
    announced.clear()
    deployment = EnvironmentDeployment.objects.get()

    post_back(
        staff,
        reverse("admin:releases_environmentdeployment_change", args=[deployment.pk]),
        status="retired",
    )

    (change,) = announced
    assert change.deployments == RowChanges(changed=("production",))
    assert (change.release, change.pins, change.source) == (None, RowChanges(), "admin")
    assert revision() == 2


def test_a_plain_save_and_delete_outside_any_batch_are_each_one_change(announced):
    import_text(RELEASE_1_4)
    announced.clear()
    pin = RepositoryPin.objects.get(repository__name="fogpy")

    pin.tag = "v2.6.2"
    pin.save()
    Release.objects.get().delete()

    first, second = announced
    assert (first.source, first.pins, first.revision) == (
        changes.DIRECT,
        RowChanges(changed=("fogpy",)),
        2,
    )
    assert (second.release, second.pins.deleted) == ("deleted", PINS)


def test_one_batch_around_several_saves_bumps_once(announced):
    import_text(RELEASE_1_4)
    announced.clear()

    with changes.batch(changes.API, actor="token:ci") as batch:
        for pin in RepositoryPin.objects.all():
            pin.url = f"https://github.com/org/{pin.repository.name}.git"
            pin.save()
        assert batch.source == changes.API

    (change,) = announced
    assert (change.revision, change.actor, change.pins) == (2, "token:ci", RowChanges(changed=PINS))


def test_a_batch_that_raises_reports_nothing(announced):
    import_text(RELEASE_1_4)
    announced.clear()

    with pytest.raises(RuntimeError), changes.batch(changes.API):
        RepositoryPin.objects.filter(repository__name="fogpy").get().delete()
        raise RuntimeError

    assert announced == []
    assert RepositoryPin.objects.count() == 3 and revision() == 1


def test_admin_save_of_200_pins_makes_no_per_pin_queries_of_ours(staff: Client, announced):
    # A release page of 200 pins posts about 1,700 fields: over Django's default limit, within
    # the site's.
    def measure(pins: int) -> int:
        version = f"{pins}.0"
        import_text(generated_manifest(pins, version))
        url = reverse(
            "admin:releases_release_change", args=[Release.objects.get(version=version).pk]
        )
        page = staff.get(url)
        from ..admin_forms import form_data

        data = form_data(page.content.decode())
        data.pop("csrfmiddlewaretoken", None)
        data["notes"] = "edited"
        data["pins-0-tag"] = "v9.9.9"
        with CaptureQueriesContext(connection) as captured:
            assert staff.post(url, data).status_code == 302
        return len(captured.captured_queries)

    # Django's formset looks each posted row up by its id (one query per row); nothing else
    # grows with the number of pins: not the checks, the change report or the revision.
    assert measure(200) - measure(10) == 190


def test_a_nested_batch_that_raises_is_forgotten_and_the_outer_one_still_reports(announced):
    import_text(RELEASE_1_4)
    announced.clear()

    with changes.batch(changes.GIT, actor="sync") as outer:
        fogpy = RepositoryPin.objects.get(repository__name="fogpy")
        fogpy.tag = "v2.6.2"
        fogpy.save()
        with pytest.raises(RuntimeError), changes.batch(changes.VALIDATION):
            RepositoryPin.objects.get(repository__name="fogpy_utils").delete()
            raise RuntimeError
        assert changes.current() is outer

    (change,) = announced
    assert (change.source, change.actor, change.revision) == (changes.GIT, "sync", 2)
    assert change.pins == RowChanges(changed=("fogpy",))
    assert RepositoryPin.objects.count() == 3
