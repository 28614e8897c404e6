"""The plain admin: every model's pages show the example data, in a bounded number of queries."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from registry.models import Environment, Repository
from releases.models import EnvironmentDeployment, PinDependency, Release, RepositoryPin

from .releases.manifests import generated_manifest, import_text

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "manifests"

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def examples() -> None:
    call_command("import_manifest", str(EXAMPLES), stdout=open("/dev/null", "w"))  # noqa: SIM115


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (Release, "1.3"),
        (RepositoryPin, "v2.5.2"),
        (PinDependency, "fogpy_utils"),
        (EnvironmentDeployment, "prod-v1.2"),
        (Repository, "chempipe-plugins"),
        (Environment, "staging"),
    ],
)
def test_every_model_lists_and_opens(staff: Client, examples: None, model, expected: str):
    opts = model._meta
    listing = staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert listing.status_code == 200
    assert expected in listing.content.decode()

    obj = model._default_manager.first()
    change = staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))
    assert change.status_code == 200
    history = staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[obj.pk]))
    assert history.status_code == 200
    assert "imported from" in history.content.decode()


def test_release_page_shows_pins_and_deployments(staff: Client, examples: None):
    release = Release.objects.get(version="1.3")

    page = staff.get(reverse("admin:releases_release_change", args=[release.pk])).content.decode()

    for text in ("Release Registry", "fogpy", "v2.5.2", "deadbeefcafe", "prod-v1.3", "Backport"):
        assert text in page


def test_admin_pages_make_the_same_queries_for_10_and_200_pins(staff: Client):
    def measure(pins: int) -> dict[str, int]:
        import_text(generated_manifest(pins, f"{pins}.0"), source=f"v{pins}.yaml")
        release = Release.objects.get(version=f"{pins}.0")
        pin = release.pins.order_by("-position").first()
        assert pin is not None
        result = {}
        for name, url in {
            "release list": reverse("admin:releases_release_changelist"),
            "release page": reverse("admin:releases_release_change", args=[release.pk]),
            "pin list": reverse("admin:releases_repositorypin_changelist"),
            "pin page": reverse("admin:releases_repositorypin_change", args=[pin.pk]),
            "dependency list": reverse("admin:releases_pindependency_changelist"),
            "deployment list": reverse("admin:releases_environmentdeployment_changelist"),
            "repository list": reverse("admin:registry_repository_changelist"),
            "environment list": reverse("admin:registry_environment_changelist"),
            "release history": reverse("admin:releases_release_history", args=[release.pk]),
        }.items():
            with CaptureQueriesContext(connection) as captured:
                assert staff.get(url).status_code == 200
            result[name] = len(captured.captured_queries)
        return result

    assert measure(10) == measure(200)


def test_admin_forms_refuse_bad_input_with_the_field_named_and_change_nothing(
    staff: Client, examples: None
):
    pin = RepositoryPin.objects.select_related("release", "repository").get(
        release__version="1.3", repository__name="fogpy"
    )
    history_before = RepositoryPin.history.count()
    url = reverse("admin:releases_repositorypin_change", args=[pin.pk])
    form = {
        "release": pin.release_id,
        "repository": pin.repository_id,
        "position": pin.position,
        "tag": "v2.5.2 final",
        "commit_sha": pin.commit_sha,
        "package_version": pin.package_version,
        "url": "https://token@github.com/org/fogpy.git",
        "validation_state": pin.validation_state,
    }

    response = staff.post(url, form)

    assert response.status_code == 200  # the form again, not a redirect
    errors = response.context["adminform"].form.errors
    assert "is not a valid git tag name" in str(errors["tag"])
    assert "credentials must not be written into the URL" in str(errors["url"])
    assert "token@" not in str(errors)
    pin.refresh_from_db()
    assert (pin.tag, pin.url) == ("v2.5.2", "")
    assert RepositoryPin.history.count() == history_before

    release = Release.objects.get(version="1.3")
    response = staff.post(
        reverse("admin:releases_release_change", args=[release.pk]),
        {"version": "1.3", "metadata_extra": '{"ratio": NaN}'},
    )
    assert response.status_code == 200
    assert "cannot be kept exactly" in str(response.context["adminform"].form.errors)
    release.refresh_from_db()
    assert release.metadata is not None and "ratio" not in release.metadata
