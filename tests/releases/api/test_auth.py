"""Tokens: hashed, shown once, scoped, revocable, last use recorded, throttled."""

from __future__ import annotations

import datetime as dt
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from releases.api import models
from releases.api.models import ApiToken, hash_key
from tests.releases.manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db


def test_create_api_token_prints_the_key_once_and_stores_only_its_hash() -> None:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", "iac-pipeline", "--scope", "write", stdout=out, stderr=err)
    key = out.getvalue().strip()
    token = ApiToken.objects.get(name="iac-pipeline")
    assert token.scope == "write"
    assert key.startswith("rr_") and len(key) > 40
    assert token.key_hash == hash_key(key)
    assert key not in {token.key_hash, token.prefix}
    assert token.user.username == "iac-pipeline"
    assert not token.user.has_usable_password()
    assert "not stored" in err.getvalue()

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/releases/").status_code == 200


def test_create_api_token_refuses_a_name_in_use() -> None:
    call_command("create_api_token", "ci", stdout=StringIO(), stderr=StringIO())
    with pytest.raises(CommandError, match="exists already"):
        call_command("create_api_token", "ci", stdout=StringIO(), stderr=StringIO())


def test_anonymous_gets_401_with_the_scheme(anonymous: APIClient) -> None:
    response = anonymous.get("/api/releases/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "header", ["Token rr_nope_nope", "Token", "Token a b", "Token rr_abc", "Token ümlaut"]
)
def test_a_wrong_key_gets_401(header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get("/api/releases/").status_code == 401


def test_a_key_with_the_right_prefix_and_a_wrong_secret_gets_401() -> None:
    _token, key = ApiToken.create_token("ci", "read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key[:-3]}xyz")
    assert client.get("/api/releases/").status_code == 401


def test_a_revoked_token_gets_401() -> None:
    token, key = ApiToken.create_token("ci", "write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/releases/").status_code == 200
    token.revoke()
    assert client.get("/api/releases/").status_code == 401


def test_a_read_token_writing_gets_403_and_changes_nothing(reader: APIClient) -> None:
    import_text(RELEASE_1_4)
    response = reader.delete("/api/releases/1.4/")
    assert response.status_code == 403
    assert "write scope" in response.json()["detail"]
    assert reader.get("/api/releases/1.4/").status_code == 200


def test_last_use_is_recorded_at_most_once_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    # A second stands for the minute (the mark of the last use expires in the cache).
    monkeypatch.setattr(models, "LAST_USED_RESOLUTION", dt.timedelta(seconds=1))
    token, key = ApiToken.create_token("ci", "read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.get("/api/releases/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    client.get("/api/releases/")
    token.refresh_from_db()
    assert token.last_used_at == first
    time.sleep(1.5)
    client.get("/api/releases/")
    token.refresh_from_db()
    assert token.last_used_at is not None and token.last_used_at > first
    assert token.last_used_at <= timezone.now()


@override_settings(REGISTRY_API_THROTTLE_RATE="3/minute")
def test_each_token_is_throttled_on_its_own() -> None:
    first = APIClient()
    first.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.create_token('a', 'read')[1]}")
    second = APIClient()
    second.credentials(HTTP_AUTHORIZATION=f"Token {ApiToken.create_token('b', 'read')[1]}")
    assert [first.get("/api/releases/").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert second.get("/api/releases/").status_code == 200


def test_a_staff_session_reads_the_browsable_api_and_docs(django_user_model) -> None:
    staff = django_user_model.objects.create_user("alice", password="x", is_staff=True)
    client = APIClient()
    client.force_login(staff)
    assert client.get("/api/releases/", HTTP_ACCEPT="text/html").status_code == 200
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200


def test_a_session_of_a_non_staff_user_gets_403(django_user_model) -> None:
    user = django_user_model.objects.create_user("bob", password="x")
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/releases/").status_code == 403


def test_the_admin_lists_and_revokes_tokens_without_showing_keys(django_user_model) -> None:
    token, key = ApiToken.create_token("ci", "write")
    admin = django_user_model.objects.create_superuser("root", password="x")
    client = APIClient()
    client.force_login(admin)
    listing = client.get("/admin/releases/apitoken/")
    assert listing.status_code == 200
    assert b"ci" in listing.content and key.encode() not in listing.content
    response = client.post(
        "/admin/releases/apitoken/",
        {"action": "revoke", "_selected_action": [token.pk]},
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/releases/").status_code == 401


# --- tokens kept in the cache ------------------------------------------------------------------


def token_queries(client: APIClient) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/api/environments/").status_code == 200
    return sum("releases_apitoken" in query["sql"] for query in captured.captured_queries)


def test_a_token_in_use_is_read_from_the_cache() -> None:
    _token, key = ApiToken.create_token("ci", "read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert token_queries(client) == 2  # found, and its use noted
    assert token_queries(client) == 0
    assert token_queries(client) == 0


def test_every_change_of_a_cached_token_or_its_user_applies_to_the_next_request(
    django_user_model,
) -> None:
    import_text(RELEASE_1_4)
    token, key = ApiToken.create_token("ci", "read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    body = {"status": "retired"}

    def patch() -> int:
        return client.patch(
            "/api/releases/1.4/deployments/production/", data=body, format="json"
        ).status_code

    client.get("/api/releases/")
    client.get("/api/releases/")  # from the cache
    assert patch() == 403

    # The scope changed in the admin's form (a save of the token).
    admin = django_user_model.objects.create_superuser("root", password="x")
    staff = APIClient()
    staff.force_login(admin)
    url = f"/admin/releases/apitoken/{token.pk}/change/"
    form = {"scope": "write", "revoked_at_0": "", "revoked_at_1": ""}
    assert staff.post(url, form).status_code == 302
    token.refresh_from_db()
    assert token.scope == "write"
    assert patch() == 200
    body = {"status": "deployed"}
    assert patch() == 200  # cached again, with the write scope

    # Its service account deactivated.
    token.user.is_active = False
    token.user.save()
    assert client.get("/api/releases/").status_code == 401
    token.user.is_active = True
    token.user.save()
    assert client.get("/api/releases/").status_code == 200

    # Revoked: refused at once, inside the revoking transaction and after it.
    with transaction.atomic():
        token.revoke()
        assert client.get("/api/releases/").status_code == 401
    assert client.get("/api/releases/").status_code == 401
    assert ApiToken.find(key) is None
