"""The web process as the Procfile runs it: production settings, gunicorn, PostgreSQL, Redis.

The module's site runs the Procfile's ``release:`` line (migrate, collectstatic) and then
gunicorn with ``config.settings.production``, in processes whose environment holds only what
these tests give. The database is a scratch one next to the test database, dropped at the end.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django
import psycopg
import pytest
import redis
from psycopg import sql

from tests.conftest import DEFAULT_TEST_REDIS_URL, check_postgres, check_redis

from .project import BASE_DIR, PASSED_THROUGH, run_project

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

HOST = "registry.example.org"


@dataclass
class Site:
    base: str
    env: dict[str, str]
    static_root: Path
    log: Path

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of ``GET path`` as seen behind the TLS-ending proxy."""
        request = urllib.request.Request(  # noqa: S310
            self.base + path,
            headers={"Host": HOST, "X-Forwarded-Proto": "https", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def log_records(self) -> list[dict[str, object]]:
        return [
            json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")
        ]


def procfile_line(name: str) -> str:
    for line in (BASE_DIR / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"the Procfile has no {name}: line")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    server_url = check_postgres()
    redis_url = check_redis(os.environ.get("REDIS_URL") or DEFAULT_TEST_REDIS_URL)
    parts = urlsplit(server_url)
    name = f"{parts.path.lstrip('/') or 'registry'}_prodweb_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    folder = tmp_path_factory.mktemp("production-site")
    environment = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    # `python` and `gunicorn` of this virtualenv, as on a deployed image.
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    environment.update(
        {
            "DJANGO_READ_DOT_ENV_FILE": "false",
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DATABASE_URL": urlunsplit(parts._replace(path=f"/{name}")),
            "REDIS_URL": redis_url,
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": HOST,
            "DJANGO_STATIC_ROOT": str(folder / "staticfiles"),
        }
    )
    server = None
    try:
        release = subprocess.run(
            ["bash", "-c", procfile_line("release")],
            cwd=BASE_DIR,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert release.returncode == 0, release.stdout + release.stderr
        port = free_port()
        log = folder / "web.log"
        with log.open("wb") as stderr:
            server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2",
                 "--bind", f"127.0.0.1:{port}"],
                cwd=BASE_DIR, env=environment, stdout=subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
        found = Site(f"http://127.0.0.1:{port}", environment, folder / "staticfiles", log)
        for _ in range(300):
            assert server.poll() is None, log.read_text()
            try:
                found.get("/healthz")
                break
            except OSError:
                time.sleep(0.1)
        yield found
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_the_release_step_collects_the_static_files(site: Site) -> None:
    manifest = json.loads((site.static_root / "staticfiles.json").read_text())
    assert re.fullmatch(
        r"admin/css/base\.[0-9a-f]{12}\.css", manifest["paths"]["admin/css/base.css"]
    )
    assert (site.static_root / "admin/css/base.css.gz").is_file()


def test_the_admin_renders_with_its_css_served_by_whitenoise(site: Site) -> None:
    status, _headers, body = site.get("/admin/login/")
    assert status == 200
    page = body.decode()
    links = re.findall(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', page)
    assert len(links) == 1, page
    status, headers, css = site.get(links[0])
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    # A hashed name never changes content: browsers keep it for good.
    assert "immutable" in headers["Cache-Control"]
    # The collected file (its url()s point at hashed names too), the admin's stylesheet.
    assert css == (site.static_root / links[0].removeprefix("/static/")).read_bytes()
    original = Path(django.__file__).parent / "contrib/admin/static/admin/css/base.css"
    assert css.splitlines()[:3] == original.read_bytes().splitlines()[:3]
    status, headers, _gzipped = site.get(links[0], {"Accept-Encoding": "gzip"})
    assert (status, headers.get("Content-Encoding")) == (200, "gzip")


def test_healthz_reports_database_broker_and_notion_backlog(site: Site) -> None:
    # Load balancers probe over plain HTTP: no redirect to HTTPS.
    request = urllib.request.Request(site.base + "/healthz", headers={"Host": HOST})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 200
        assert json.loads(response.read()) == {
            "database": "ok",
            "broker": "ok",
            "notion_backlog": {"pending": 0, "failed": 0},
        }


def test_healthz_is_503_under_production_settings_when_the_broker_is_down(site: Site) -> None:
    script = (
        "import django, json; django.setup(); from django.test import Client; "
        f"r = Client().get('/healthz', HTTP_HOST={HOST!r}); "
        "print(r.status_code, json.dumps(r.json()))"
    )
    env = {key: value for key, value in site.env.items() if key not in PASSED_THROUGH}
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    result = run_project("-c", script, env=env)
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-1].split(" ", 1)
    assert status == "503"
    assert json.loads(body) == {
        "database": "ok",
        "broker": "error: ConnectionError",
        "notion_backlog": {"pending": 0, "failed": 0},
    }


def test_every_request_has_an_id_on_the_answer_and_on_its_log_records(site: Site) -> None:
    status, headers, _body = site.get("/api/releases/", {"X-Request-ID": "ci-build-4711"})
    assert status == 401
    assert headers["X-Request-ID"] == "ci-build-4711"
    status, headers, _body = site.get("/api/releases/no-such-release/manifest")
    assert status == 401
    made = headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    # An id that could forge log lines is replaced, not repeated.
    status, headers, _body = site.get("/api/releases/", {"X-Request-ID": "x" * 300})
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])

    deadline = time.monotonic() + 10
    while True:
        records = site.log_records()
        ids = {record["request_id"]: record for record in records}
        if {"ci-build-4711", made} <= set(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    given = ids["ci-build-4711"]
    assert given["level"] == "WARNING"
    assert given["logger"] == "django.request"
    assert given["message"] == "Unauthorized: /api/releases/"
    assert given["status_code"] == 401
    assert ids[made]["message"] == "Unauthorized: /api/releases/no-such-release/manifest"
    # Every record is one JSON object with the same keys (gunicorn's own lines aside).
    for record in records:
        assert {"time", "level", "logger", "process", "request_id", "message"} <= set(record)


def test_a_worker_logs_json_lines_too(site: Site) -> None:
    # A queue of its own: the worker takes nothing from anyone else.
    queue = f"ops-log-test-{os.getpid()}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "--pool", "solo",
         "-Q", queue, "-l", "info"],
        cwd=BASE_DIR, env=site.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert worker.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = worker.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "ready" in line:
                break
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
        broker = redis.Redis.from_url(site.env["REDIS_URL"])
        broker.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        broker.close()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(record["message"].endswith("ready.") for record in records), lines
    for record in records:
        assert record["request_id"] == "-"
        assert record["logger"].startswith("celery")
