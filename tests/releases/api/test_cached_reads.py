"""The API's cached reads (the list's entries, the manifest) are never stale.

Both are kept in the cache under the release's revision, which every write path bumps through
the change hook; and the list's pages (filtered or not) are kept in each worker's memory under
the change stamp (:mod:`releases.change_stamp`), which every committed change batch replaces.
Each test here reads twice first (the second answer comes from the cache), writes through one
path, and checks that the next answer is the new state: the same as an answer built with an
empty cache, and not the old one. The tests commit (a transactional database), as production
does: the stamp is only used outside a transaction and replaced when a change commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from registry.models import Environment, Repository
from releases import changes, revision_cache
from releases.api.models import ApiToken
from releases.edits import edit_pin, record_deployment
from releases.importing import import_manifests
from releases.manifests import parse_manifest
from releases.models import EnvironmentDeployment, Release, RepositoryPin
from tests.admin_forms import post_back
from tests.gitserver import GitDaemon, RepositoryFolder, git_daemon, repository_folder  # noqa: F401
from tests.releases.manifests import RELEASE_1_4, generated_manifest, import_text
from tests.releases.validation.runs_world import Pin, World, eager_tasks, store

pytestmark = pytest.mark.django_db(transaction=True)

READS = (
    "/api/releases/",
    "/api/releases/?environment=production",
    "/api/releases/?environment=staging",
    "/api/releases/?validation=invalid",
    "/api/releases/1.4/manifest",
    "/api/releases/1.4/manifest?format=yaml",
)


def answers(client: APIClient) -> dict[str, bytes]:
    return {url: client.get(url).content for url in READS}


def uncached(client: APIClient) -> dict[str, bytes]:
    """The answers built from empty caches (which they fill)."""
    revision_cache.clear()
    return answers(client)


def send(client: APIClient, method: str, url: str, body: object) -> Any:
    return getattr(client, method)(url, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def staff(client: Client, django_user_model: Any) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")
    client.force_login(user)
    return client


def check_seen(reader: APIClient, write: Callable[[], Any], *, lists: bool = True) -> None:
    """``write`` (which must change what the list or the manifest shows) is seen by the next
    GET of each cached read."""
    import_text(RELEASE_1_4)
    import_text(generated_manifest(30, "2.0"), source="v2.0.yaml")
    fresh = uncached(reader)
    before = answers(reader)  # from the cache
    assert before == fresh
    revision = Release.objects.get(version="1.4").revision

    write()

    after = answers(reader)
    assert after == uncached(reader)
    assert Release.objects.get(version="1.4").revision > revision
    if lists:
        assert after["/api/releases/"] != before["/api/releases/"]
    else:
        assert after["/api/releases/1.4/manifest"] != before["/api/releases/1.4/manifest"]


def entry(client: APIClient, version: str) -> dict[str, Any]:
    results: list[dict[str, Any]] = client.get("/api/releases/").json()["results"]
    (found,) = [r for r in results if r["version"] == version]
    return found


def test_an_import_is_seen(reader: APIClient) -> None:
    changed = RELEASE_1_4.replace('tag: "v2.6.1"', 'tag: "v2.6.2"').replace(
        "prod-v1.4", "prod-v1-4"
    )
    check_seen(reader, lambda: import_text(changed, source="manifests/v1.4-fix.yaml"))
    assert entry(reader, "1.4")["environments"]["production"]["namespace"] == "prod-v1-4"
    assert "v2.6.2" in reader.get("/api/releases/1.4/manifest?format=yaml").content.decode()


def test_an_api_manifest_put_is_seen(reader: APIClient, writer: APIClient) -> None:
    def put() -> None:
        text = RELEASE_1_4.replace('  - name: "chempipe-plugins"', '  - name: "chempipe-plugin"')
        response = writer.put(
            "/api/releases/1.4/manifest", data=text, content_type="application/yaml"
        )
        assert response.status_code == 200, response.content

    check_seen(reader, put)
    yaml_text = reader.get("/api/releases/1.4/manifest?format=yaml").content.decode()
    assert '- name: "chempipe-plugin"\n' in yaml_text


def test_an_api_release_patch_is_seen(reader: APIClient, writer: APIClient) -> None:
    def patch() -> None:
        response = send(writer, "patch", "/api/releases/1.4/", {"created_by": "release-bot"})
        assert response.status_code == 200, response.content

    check_seen(reader, patch)
    assert entry(reader, "1.4")["created_by"] == "release-bot"


def test_an_api_pin_patch_is_seen(reader: APIClient, writer: APIClient) -> None:
    def patch() -> None:
        response = send(
            writer, "patch", "/api/releases/1.4/pins/fogpy_utils/", {"commit_sha": "not-a-sha"}
        )
        assert response.status_code == 200, response.content

    check_seen(reader, patch)  # the list: the pin's state is now invalid
    assert entry(reader, "1.4")["validation"]["state"] == "invalid"
    assert '"commit_sha": "not-a-sha"' in reader.get("/api/releases/1.4/manifest").content.decode()


def test_a_deployment_recorded_through_the_api_is_seen(
    reader: APIClient, writer: APIClient
) -> None:
    def put() -> None:
        body = {"namespace": "staging-v1.4", "deployed_at": "2025-02-01T08:00:00Z"}
        response = send(writer, "put", "/api/releases/1.4/deployments/staging/", body)
        assert response.status_code == 201, response.content

    check_seen(reader, put)
    assert entry(reader, "1.4")["environments"]["staging"]["namespace"] == "staging-v1.4"


def test_a_deployment_recorded_by_the_service_is_seen(reader: APIClient) -> None:
    def retire() -> None:
        release = Release.objects.get(version="1.4")
        record_deployment(
            release,
            "production",
            namespace="prod-v1.4",
            deployed_at="2025-01-20T14:30:00Z",
            status="retired",
            source="pipeline",
        )

    check_seen(reader, retire)
    assert entry(reader, "1.4")["environments"]["production"]["status"] == "retired"


def test_a_pin_edited_by_the_service_is_seen(reader: APIClient) -> None:
    def edit() -> None:
        edit_pin(Release.objects.get(version="1.4"), "fogpy", {"tag": "v9"}, source="shell")

    check_seen(reader, edit, lists=False)


def test_admin_edits_are_seen(reader: APIClient, staff: Client) -> None:
    def edit_pin_in_admin() -> None:
        pin = RepositoryPin.objects.get(release__version="1.4", repository__name="fogpy")
        url = reverse("admin:releases_repositorypin_change", args=[pin.pk])
        assert post_back(staff, url, commit_sha="bad").status_code == 302

    check_seen(reader, edit_pin_in_admin)
    assert entry(reader, "1.4")["validation"]["state"] == "invalid"


def test_an_admin_release_edit_is_seen(reader: APIClient, staff: Client) -> None:
    def edit_release() -> None:
        url = reverse("admin:releases_release_change", args=[Release.objects.get(version="1.4").pk])
        assert post_back(staff, url, created_by="auditor ✓").status_code == 302

    check_seen(reader, edit_release)
    assert entry(reader, "1.4")["created_by"] == "auditor ✓"


def test_an_admin_deployment_edit_is_seen(reader: APIClient, staff: Client) -> None:
    def edit_deployment() -> None:
        deployment = EnvironmentDeployment.objects.get(release__version="1.4")
        url = reverse("admin:releases_environmentdeployment_change", args=[deployment.pk])
        assert post_back(staff, url, status="failed").status_code == 302

    check_seen(reader, edit_deployment)
    assert entry(reader, "1.4")["environments"]["production"]["status"] == "failed"


def test_renames_in_the_catalogue_are_seen(reader: APIClient, staff: Client) -> None:
    """A repository renamed in the admin changes every manifest pinning it; an environment
    renamed, every list entry deployed there."""

    def rename() -> None:
        repository = Repository.objects.get(name="fogpy")
        url = reverse("admin:registry_repository_change", args=[repository.pk])
        assert post_back(staff, url, name="pytroll/fogpy").status_code == 302
        environment = Environment.objects.get(name="production")
        url = reverse("admin:registry_environment_change", args=[environment.pk])
        assert post_back(staff, url, name="prod").status_code == 302

    check_seen(reader, rename)
    assert set(entry(reader, "1.4")["environments"]) == {"prod"}
    assert set(entry(reader, "2.0")["environments"]) == {"prod", "staging"}
    manifest = reader.get("/api/releases/1.4/manifest").json()
    assert manifest["repositories"][0]["name"] == "pytroll/fogpy"


def test_a_deleted_and_recreated_release_is_not_served_from_the_cache(
    reader: APIClient, writer: APIClient
) -> None:
    import_text(RELEASE_1_4)
    answers(reader)
    old = answers(reader)  # from the cache
    assert writer.delete("/api/releases/1.4/").status_code == 204
    assert reader.get("/api/releases/1.4/manifest").status_code == 404
    assert reader.get("/api/releases/").json()["count"] == 0

    import_text(RELEASE_1_4.replace('created_by: "platform-team"', 'created_by: "again"'))

    new = answers(reader)
    assert new == uncached(reader)
    assert new != old
    assert entry(reader, "1.4")["created_by"] == "again"


def test_a_save_that_changes_nothing_of_the_release_still_shows_its_new_time(
    reader: APIClient,
) -> None:
    """A release saved unchanged reports no change (no new revision), but its ``updated_at``
    moved: the list entry's key holds it too."""
    import_text(RELEASE_1_4)
    answers(reader)
    release = Release.objects.get()
    with changes.batch(changes.ADMIN):
        release.save()
    assert Release.objects.get().revision == release.revision
    after = answers(reader)
    assert after == uncached(reader)


# --- permissions and throttling apply to cached answers -------------------------------------


def test_a_revoked_token_gets_401_for_a_cached_answer(db: None) -> None:
    import_text(RELEASE_1_4)
    token, key = ApiToken.create_token("dashboard", "read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    for url in READS:
        assert client.get(url).status_code == 200
        assert client.get(url).status_code == 200  # cached

    token.revoke()

    for url in READS:
        assert client.get(url).status_code == 401
        assert APIClient().get(url).status_code == 401


def test_the_throttle_counts_cached_answers(reader: APIClient, settings: Any) -> None:
    import_text(RELEASE_1_4)
    settings.REGISTRY_API_THROTTLE_RATE = "4/minute"
    codes = [reader.get(url).status_code for url in ("/api/releases/1.4/manifest",) * 6]
    assert codes == [200] * 4 + [429] * 2


def test_a_read_token_still_cannot_write_after_cached_reads(reader: APIClient) -> None:
    import_text(RELEASE_1_4)
    answers(reader)
    answers(reader)
    text = RELEASE_1_4.replace('tag: "v2.6.1"', 'tag: "v2.6.2"')
    response = reader.put("/api/releases/1.4/manifest", data=text, content_type="application/yaml")
    assert response.status_code == 403
    assert "v2.6.1" in reader.get("/api/releases/1.4/manifest").content.decode()


# --- a validation run's results -------------------------------------------------------------


@pytest.mark.git
def test_a_validation_runs_results_are_seen(
    reader: APIClient, writer: APIClient, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    store(
        "3.0",
        [
            Pin("pytroll/fogpy", "v2.6.1", world.shas["fogpy v2.6.1"], "2.6.1"),
            Pin("chempipe-plugins", "v3.1.0", world.shas["fogpy other"], "3.1.0"),
        ],
    )
    reader.get("/api/releases/")
    before = entry(reader, "3.0")  # from the cache
    assert before["validation"]["pins"]["unchecked"] == 2

    with eager_tasks(), django_capture_on_commit_callbacks(execute=True):
        assert writer.post("/api/releases/3.0/validate").status_code == 202

    after = entry(reader, "3.0")
    assert after["validation"]["state"] == "invalid"
    assert (after["validation"]["pins"]["valid"], after["validation"]["pins"]["invalid"]) == (1, 1)
    assert after["revision"] > before["revision"]
    revision_cache.clear()
    assert entry(reader, "3.0") == after


# --- pages -----------------------------------------------------------------------------------


def test_pages_count_link_and_refuse_as_drf_does(reader: APIClient) -> None:
    """The page and its total come from one query; numbers, links and 404s are DRF's."""
    texts = [generated_manifest(3, f"5.{i}") for i in range(120)]
    import_manifests(
        [(f"v{i}.yaml", parse_manifest(t, source=f"v{i}.yaml")) for i, t in enumerate(texts)]
    )
    first = reader.get("/api/releases/").json()
    assert first["count"] == 120 and len(first["results"]) == 50
    assert first["previous"] is None and first["next"].endswith("/api/releases/?page=2")
    third = reader.get("/api/releases/?page=3").json()
    assert third["count"] == 120 and len(third["results"]) == 20 and third["next"] is None
    last = reader.get("/api/releases/?page=last").json()
    assert last == third
    assert third["previous"].endswith("/api/releases/?page=2")
    seen = [
        r["version"]
        for p in (1, 2, 3)
        for r in reader.get(f"/api/releases/?page={p}").json()["results"]
    ]
    assert sorted(seen) == sorted(f"5.{i}" for i in range(120))
    for page in ("4", "0", "-1", "x"):
        response = reader.get(f"/api/releases/?page={page}")
        assert response.status_code == 404, page
        assert response.json()["detail"] == "Invalid page."
    filtered = reader.get("/api/releases/?repository=nobody/nothing").json()
    assert filtered == {"count": 0, "next": None, "previous": None, "results": []}


def test_the_lists_compiled_query_serves_every_page_and_data_change(reader: APIClient) -> None:
    """The unfiltered list's SQL is compiled once (per slice) and reused; it still reads the
    data as it is now, gives the ORM's rows, and leaves filtered requests to the ORM."""
    from releases.api.pagination import page_rows
    from releases.api.views import unfiltered_rows

    for i in range(3):
        import_text(generated_manifest(2, f"6.{i}"), source=f"v6.{i}.yaml")
    import_text(RELEASE_1_4)
    page = unfiltered_rows()[0:2]
    assert page_rows(page, "a key") == list(page)
    assert page_rows(page, "a key") == list(page)  # compiled, from the second call on
    assert [type(row.page_total) for row in page_rows(page, "a key")] == [int, int]

    def versions(url: str) -> tuple[int, list[str]]:
        body = reader.get(url).json()
        return body["count"], [r["version"] for r in body["results"]]

    assert versions("/api/releases/") == (4, ["1.4", "6.2", "6.1", "6.0"])
    (repository, *_) = RepositoryPin.objects.filter(release__version="1.4").values_list(
        "repository__name", flat=True
    )
    assert versions(f"/api/releases/?repository={repository}")[1] == ["1.4"]
    assert reader.get("/api/releases/?page=2").status_code == 404  # one page of 50
    import_text(generated_manifest(2, "7.0"), source="v7.0.yaml")
    Release.objects.get(version="6.0").delete()
    assert versions("/api/releases/") == (4, ["7.0", "1.4", "6.2", "6.1"])
    assert versions(f"/api/releases/?repository={repository}")[1] == ["1.4"]


# --- the change stamp -------------------------------------------------------------------------


def test_an_unchanged_list_is_answered_without_a_query(
    reader: APIClient, django_assert_num_queries: Any, redis_url: str, settings: Any
) -> None:
    """While no change commits, a worker answers the unfiltered list and a manifest from what
    it kept (the stamp read with the token in one Redis round trip); a committed change is
    seen (and, through every write path, by the tests above)."""
    # Redis as the shared cache, as in production (without REDIS_URL the settings use
    # Django's per-process cache, under which nothing is kept).
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "config.cache.ForgivingRedisCache", "LOCATION": redis_url},
    }
    revision_cache.clear()
    import_text(RELEASE_1_4)
    first = reader.get("/api/releases/").content
    with django_assert_num_queries(0):
        assert reader.get("/api/releases/").content == first
    assert reader.get("/api/releases/?page=1").status_code == 200  # a page of its own, kept
    with django_assert_num_queries(0):
        assert reader.get("/api/releases/?page=1").status_code == 200
    live = reader.get("/api/releases/?environment=production").content  # filtered, kept too
    with django_assert_num_queries(0):
        assert reader.get("/api/releases/?environment=production").content == live
    # A refused filter is refused every time (nothing kept).
    for _ in range(2):
        assert reader.get("/api/releases/?validation=nonsense").status_code == 400
    manifest = reader.get("/api/releases/1.4/manifest")
    with django_assert_num_queries(0):
        again = reader.get("/api/releases/1.4/manifest")
    assert (again.content, again["ETag"]) == (manifest.content, manifest["ETag"])
    import_text(generated_manifest(3, "2.0"), source="v2.0.yaml")
    with CaptureQueriesContext(connection) as captured:
        after = reader.get("/api/releases/").json()
    assert len(captured) >= 1
    assert [r["version"] for r in after["results"]] == ["2.0", "1.4"]
    in_production = reader.get("/api/releases/?environment=production").json()["results"]
    assert [r["version"] for r in in_production] == ["2.0", "1.4"]


def test_without_a_shared_cache_every_list_reads_the_database(
    reader: APIClient, settings: Any
) -> None:
    """Django's per-process memory cache is not seen by the other workers: no page is kept
    under a stamp there (the list's query runs every time)."""
    settings.CACHES = {
        name: {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": name}
        for name in ("default", "local")
    }
    import_text(RELEASE_1_4)
    reader.get("/api/releases/")
    queries = []
    for _ in range(2):
        with CaptureQueriesContext(connection) as captured:
            assert reader.get("/api/releases/").status_code == 200
        queries.append(len(captured))
    assert min(queries) >= 1
