"""A queryset's ``update()`` outside any change batch (a shell, a script, a data fix) leaves a
history record of every row it wrote, as a save does: the history API, ``--as-of`` exports
and the promotion gate's soak times read the history. Inside a batch the writer records its
own rows, once."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient
from simple_history.middleware import HistoryRequestMiddleware

from releases import changes
from releases.models import EnvironmentDeployment, PinDependency, Release, RepositoryPin
from tests.releases.api.conftest import fresh_throttle_counts, token_client  # noqa: F401
from tests.releases.manifests import RELEASE_1_4, generated_manifest, import_text

pytestmark = pytest.mark.django_db

STAGING_PLANNED = RELEASE_1_4.replace(
    "repositories:\n",
    '  staging:\n    namespace: "staging-v1.4"\n    status: "planned"\n' + "repositories:\n",
    1,
)


@pytest.fixture
def reader(db: None) -> APIClient:
    return token_client("dashboard", "read")


def staging() -> Any:
    return EnvironmentDeployment.objects.filter(release__version="1.4", environment__name="staging")


def history_entries(reader: APIClient, kind: str, name: str) -> list[dict[str, Any]]:
    """The release's history as the API gives it (newest first), of one row."""
    response = reader.get("/api/releases/1.4/history/")
    assert response.status_code == 200, response.content
    return [e for e in response.json()["results"] if (e["kind"], e["name"]) == (kind, name)]


def exported_as_of(moment: Any) -> str:
    out = StringIO()
    call_command("export_manifest", "1.4", "--as-of", moment.isoformat(), stdout=out)
    return out.getvalue()


def test_a_deployment_bulk_updated_to_deployed_then_retired_is_in_its_history(
    reader: APIClient,
):
    import_text(STAGING_PLANNED)

    assert staging().update(status="deployed") == 1
    between = timezone.now()
    assert staging().update(status="retired") == 1

    entries = history_entries(reader, "deployment", "staging")
    assert [(e["action"], e["changes"], e["source"], e["user"]) for e in entries] == [
        ("changed", {"status": {"old": "deployed", "new": "retired"}}, changes.DIRECT, None),
        ("changed", {"status": {"old": "planned", "new": "deployed"}}, changes.DIRECT, None),
        ("created", {}, "imported from manifests/v1.4.yaml", None),
    ]
    records = EnvironmentDeployment.history.filter(environment__name="staging").order_by(
        "history_date", "history_id"
    )
    assert [(r.history_type, r.status, r.history_change_reason) for r in records] == [
        ("+", "planned", "imported from manifests/v1.4.yaml"),
        ("~", "deployed", "direct"),
        ("~", "retired", "direct"),
    ]
    # The release as it stood between the two updates, and now.
    assert '  staging:\n    namespace: "staging-v1.4"\n    status: "deployed"\n' in (
        exported_as_of(between)
    )
    assert '    status: "retired"\n' in exported_as_of(timezone.now())


def test_a_bulk_update_of_pins_records_each_pin_once(reader: APIClient):
    import_text(RELEASE_1_4)
    pins = RepositoryPin.objects.filter(release__version="1.4")
    before = {pin.pk: pin.history.count() for pin in pins}

    url = "https://git.example.org/mirror.git"
    assert pins.update(url=url) == 3

    assert {pin.pk: pin.history.count() for pin in pins} == {
        pk: count + 1 for pk, count in before.items()
    }
    newest = RepositoryPin.history.order_by("-history_date", "-history_id")[:3]
    assert {(r.url, r.history_type, r.history_change_reason, r.history_user) for r in newest} == {
        (url, "~", "direct", None)
    }
    (fogpy,) = history_entries(reader, "pin", "fogpy")[:1]
    assert (fogpy["changes"], fogpy["source"]) == ({"url": {"old": "", "new": url}}, "direct")


def test_a_bulk_update_of_a_release_is_in_its_history(reader: APIClient):
    import_text(RELEASE_1_4)

    assert Release.objects.filter(version="1.4").update(notes="Hotfix release") == 1

    newest = history_entries(reader, "release", "1.4")[0]
    assert (newest["action"], newest["changes"], newest["source"]) == (
        "changed",
        {"notes": {"old": "Production release", "new": "Hotfix release"}},
        "direct",
    )


def test_a_bulk_update_made_serving_a_signed_in_user_is_theirs(
    reader: APIClient, django_user_model: Any
):
    """An update made while a request of a signed-in user is served (a custom admin action,
    say) is attributed to that user, as a save made there is."""
    import_text(STAGING_PLANNED)
    ops = django_user_model.objects.create_user("ops", "ops@example.invalid", "pw")
    request = RequestFactory().post("/admin/")
    request.user = ops
    HistoryRequestMiddleware(lambda request: staging().update(status="deployed"))(request)

    newest = history_entries(reader, "deployment", "staging")[0]
    assert (newest["changes"], newest["user"], newest["source"]) == (
        {"status": {"old": "planned", "new": "deployed"}},
        "ops",
        "direct",
    )
    record = EnvironmentDeployment.history.filter(environment__name="staging").latest(
        "history_date"
    )
    assert record.history_user == ops


def test_a_bulk_update_inside_a_batch_is_recorded_by_its_writer_once():
    """The importer updates pins and deployments in bulk inside its batch: one record per row
    it changed, none for the rows it left alone."""
    import_text(STAGING_PLANNED)
    counts = {
        model: dict(model.history.values_list("id").annotate(n=Count("history_id")))
        for model in (RepositoryPin, EnvironmentDeployment, PinDependency)
    }

    edited = STAGING_PLANNED.replace('tag: "v1.4.2"', 'tag: "v1.4.3"').replace(
        'package_version: "1.4.2"', 'package_version: "1.4.3"'
    )
    edited = edited.replace('status: "planned"', 'status: "deployed"')
    import_text(edited)

    after = {
        model: dict(model.history.values_list("id").annotate(n=Count("history_id")))
        for model in counts
    }
    fogpy_utils = RepositoryPin.objects.get(repository__name="fogpy_utils").pk
    staging_row = staging().get().pk
    assert {
        model.__name__: {pk: n - counts[model].get(pk, 0) for pk, n in rows.items()}
        for model, rows in after.items()
    } == {
        "RepositoryPin": {pk: int(pk == fogpy_utils) for pk in after[RepositoryPin]},
        "EnvironmentDeployment": {
            pk: int(pk == staging_row) for pk in after[EnvironmentDeployment]
        },
        "PinDependency": {pk: 0 for pk in after[PinDependency]},
    }


def test_an_api_write_records_its_row_once(reader: APIClient):
    import_text(STAGING_PLANNED)
    before = EnvironmentDeployment.history.count()
    writer = token_client("iac-pipeline", "write")

    response = writer.patch(
        "/api/releases/1.4/deployments/staging/", {"status": "deployed"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert EnvironmentDeployment.history.count() == before + 1
    newest = history_entries(reader, "deployment", "staging")[0]
    assert (newest["changes"], newest["token"]) == (
        {"status": {"old": "planned", "new": "deployed"}},
        "iac-pipeline",
    )


def test_a_bulk_update_takes_the_same_queries_for_5_and_100_rows():
    counts = []
    for pins in (5, 100):
        version = f"{pins}.0"
        import_text(generated_manifest(pins, version=version), f"manifests/v{version}.yaml")
        rows = RepositoryPin.objects.filter(release__version=version)
        with CaptureQueriesContext(connection) as queries:
            assert rows.update(url="https://git.example.org/mirror.git") == pins
        counts.append(len(queries))
        assert (
            RepositoryPin.history.filter(
                release__version=version, url="https://git.example.org/mirror.git"
            ).count()
            == pins
        )

    assert counts[0] == counts[1]
