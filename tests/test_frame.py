"""The project frame: settings, the SQLite backend, health check, API docs, deploy check."""

import json
import os
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from .config.project import run_project

SHOW_SETTINGS = (
    "import json; from django.conf import settings as s; from config.celery_app import app; "
    "print(json.dumps({'eager': s.CELERY_TASK_ALWAYS_EAGER, 'broker': app.conf.broker_url, "
    "'cache': s.CACHES['default']['BACKEND'], 'engine': s.DATABASES['default']['ENGINE']}))"
)


def show_settings(**env: str) -> dict[str, object]:
    result = run_project("-c", SHOW_SETTINGS, env=env)
    assert result.returncode == 0, result.stderr
    shown: dict[str, object] = json.loads(result.stdout)
    return shown


def test_without_redis_tasks_run_in_process_on_sqlite() -> None:
    shown = show_settings(DJANGO_SETTINGS_MODULE="config.settings.local")
    assert shown == {
        "eager": True,
        "broker": "memory://",
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "engine": "config.sqlite_backend",
    }


def test_with_redis_tasks_go_to_the_broker() -> None:
    url = "redis://127.0.0.1:6379/3"
    shown = show_settings(DJANGO_SETTINGS_MODULE="config.settings.local", REDIS_URL=url)
    assert shown["eager"] is False
    assert shown["broker"] == url
    assert shown["cache"] == "config.cache.ForgivingRedisCache"  # Redis's RedisCache, forgiving


def test_healthz_reports_database_and_broker(client: Client, db: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == ("ok" if os.environ.get("REDIS_URL") else "eager")


def test_healthz_is_503_when_the_broker_is_down(client: Client, db: None) -> None:
    with override_settings(
        CELERY_TASK_ALWAYS_EAGER=False,
        CELERY_BROKER_URL="redis://127.0.0.1:1/0",  # nothing listens on port 1
    ):
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == "error: ConnectionError"
    # Hosts and ports stay in the log; anonymous callers learn only that it failed.
    assert "127.0.0.1" not in response.content.decode()


def test_healthz_accepts_in_process_tasks_where_no_broker_is_required(
    client: Client, db: None
) -> None:
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True, REGISTRY_REQUIRE_BROKER=False):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "database": "ok",
        "broker": "eager",
        "notion_backlog": {"pending": 0, "failed": 0},
    }


def test_healthz_is_503_without_a_broker_where_one_is_required(client: Client, db: None) -> None:
    # Production sets REGISTRY_REQUIRE_BROKER: in-process tasks there would block requests and
    # vanish with the process.
    with override_settings(CELERY_TASK_ALWAYS_EAGER=True, REGISTRY_REQUIRE_BROKER=True):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "database": "ok",
        "broker": "error: no broker configured",
        "notion_backlog": {"pending": 0, "failed": 0},
    }


@pytest.mark.django_db
def test_bulk_create_of_1000_rows_is_one_statement() -> None:
    # True on PostgreSQL out of the box; on SQLite thanks to config.sqlite_backend.
    content_type = ContentType.objects.get_for_model(User)
    rows = [
        Permission(content_type=content_type, codename=f"frame_{i}", name=f"Frame {i}")
        for i in range(1000)
    ]
    with CaptureQueriesContext(connection) as queries:
        Permission.objects.bulk_create(rows)
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert Permission.objects.filter(codename__startswith="frame_").count() == 1000


def test_sqlite_backend_reports_the_real_parameter_limit(tmp_path: Path) -> None:
    # In a process of its own, so that it runs whatever database the suite uses.
    result = run_project(
        "-c",
        "import django; django.setup(); from django.db import connection; "
        "print(connection.settings_dict['ENGINE'], connection.features.max_query_params)",
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'probe.sqlite3'}",
        },
    )
    assert result.returncode == 0, result.stderr
    engine, limit = result.stdout.split()
    assert engine == "config.sqlite_backend"
    assert int(limit) > 999


def test_database_url_decides_the_test_database(postgres_database: None) -> None:
    expected = (
        "postgresql"
        if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
        else "sqlite"
    )
    assert connection.vendor == expected


def test_api_docs_need_a_login_and_are_served_offline(client: Client, admin_client: Client) -> None:
    assert client.get("/api/schema/").status_code == 401
    schema = admin_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Release Registry API"
    docs = admin_client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    # Swagger UI comes from the sidecar's static files, not a CDN.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
