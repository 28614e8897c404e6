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
