"""The project frame: settings, the SQLite backend, health check, API docs, deploy check."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

BASE_DIR = Path(__file__).resolve().parent.parent


def run_project(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS...`` in the project, settings coming only from ``env``."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "REDIS_", "DATABASE_"))
    }
    clean["DJANGO_READ_DOT_ENV_FILE"] = "false"
    clean.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SHOW_SETTINGS = (
    "import json; from django.conf import settings as s; from config.celery_app import app; "
    "print(json.dumps({'eager': s.CELERY_TASK_ALWAYS_EAGER, 'broker': app.conf.broker_url, "
    "'cache': s.CACHES['default']['BACKEND'], 'engine': s.DATABASES['default']['ENGINE']}))"
)


def show_settings(**env: str) -> dict[str, object]:
    result = run_project("-c", SHOW_SETTINGS, **env)
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
    assert shown["cache"] == "django.core.cache.backends.redis.RedisCache"


def test_healthz_reports_database_and_broker(client: Client, db: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == ("ok" if os.environ.get("REDIS_URL") else "eager")


def test_healthz_is_503_when_the_broker_is_down(client: Client, db: None) -> None:
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):  # nothing listens on port 1
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"] == "error: ConnectionError"
    # Hosts and ports stay in the log; anonymous callers learn only that it failed.
    assert "127.0.0.1" not in response.content.decode()


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
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'probe.sqlite3'}",
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


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = run_project(
        "-c",
        "from django.conf import settings; settings.SECRET_KEY",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_ALLOWED_HOSTS="registry.example.org",
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_production_passes_the_deploy_check() -> None:
    result = run_project(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="registry.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stderr
