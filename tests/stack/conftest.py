"""The stack tests' world: git repositories served on 127.0.0.1, the local Notion, and a
:class:`Stack` environment pointing at them, a PostgreSQL database and a Redis.

Every test here runs real processes (``-m stack`` selects them). They need ``redis-server``
and PostgreSQL (a server named by DATABASE_URL, or PostgreSQL's binaries for a cluster of the
test's own): locally their absence skips, under ``CI=true`` it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import POSTGRES_SCHEMES, check_postgres, service_unavailable
from tests.gitserver import (  # noqa: F401 (fixtures)
    GitDaemon,
    RepositoryFolder,
    git_daemon,
    repository_folder,
)
from tests.releases.notion.notion_server import NotionServer

from .stack import OwnPostgres, OwnRedis, Stack, drop_database, fresh_database

ADMIN_PASSWORD = "Zoë-stack-admin-1"


def require_redis_server() -> None:
    if shutil.which("redis-server") is None:
        service_unavailable("redis-server not installed: the stack tests run a Redis of their own")


def postgres_server() -> str:
    """DATABASE_URL, when it names a reachable PostgreSQL (skip/fail otherwise)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(POSTGRES_SCHEMES):
        service_unavailable("PostgreSQL not configured: DATABASE_URL is not a postgres:// URL")
    return check_postgres()


def own_postgres() -> OwnPostgres:
    try:
        server = OwnPostgres()
    except FileNotFoundError as error:
        service_unavailable(f"PostgreSQL server binaries not installed: {error}")
    server.start()
    return server


def database_name(purpose: str) -> str:
    """A database of these tests, named after the one DATABASE_URL names (``rr_x_stack_e2e``)."""
    base = os.environ.get("DATABASE_URL", "").rstrip("/").rsplit("/", 1)[-1] or "registry"
    return f"{base}_stack_{purpose}"[:63]


@dataclass
class Repositories:
    """Repositories on the git daemon: ``shas[(name, tag)]`` the commit a tag names."""

    daemon: GitDaemon
    urls: dict[str, str] = field(default_factory=dict)
    shas: dict[tuple[str, str], str] = field(default_factory=dict)


def serve_repositories(folder: RepositoryFolder, daemon: GitDaemon) -> Repositories:
    """Three repositories, owner/name as GitHub spells them, with tags of a few releases."""
    served = Repositories(daemon)
    for name, tags in {
        "pytroll/fogpy": ["v2.6.0", "v2.6.1", "v2.7.0"],
        "pytroll/satpy": ["v0.50.0", "v0.51.0"],
        "ssec/polar2grid": ["v3.0.0", "v3.1.0"],
    }.items():
        repository, relative = folder.create(name)
        for tag in tags:
            served.shas[(name, tag)] = repository.commit(f"{name} {tag} ✓")
            repository.tag(tag, served.shas[(name, tag)])
        served.urls[name] = daemon.url(relative)
    return served


@dataclass
class Notion:
    server: NotionServer
    views: str
    versions: str

    def pins(self) -> dict[str, dict[str, Any]]:
        return self.server.state.by_key(self.views)

    def releases(self) -> dict[str, dict[str, Any]]:
        return self.server.state.by_key(self.versions)


@pytest.fixture(scope="module")
def notion() -> Iterator[Notion]:
    with NotionServer() as server:
        views = server.state.create_database("Release Views")
        versions = server.state.create_database("Product Versions")
        yield Notion(server, views, versions)


def stack_environment(database_url: str, redis_url: str, notion: Notion) -> dict[str, str]:
    """What the Procfile's processes need (production settings refuse to start without it)."""
    return {
        **{
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "NOTION_", "REGISTRY_", "CELERY_", "PYTEST"))
        },
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": "stack-tests-" + "k" * 50,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_READ_DOT_ENV_FILE": "false",
        "DJANGO_LOG_LEVEL": "INFO",
        # Two gunicorn workers per web process (config/gunicorn.py): the machine is shared.
        "WEB_CONCURRENCY": "2",
        "NOTION_TOKEN": notion.server.token,
        "NOTION_BASE_URL": notion.server.url,
        "NOTION_RELEASE_VIEWS_DATABASE_ID": notion.views,
        "NOTION_PRODUCT_VERSIONS_DATABASE_ID": notion.versions,
        "NOTION_REQUESTS_PER_SECOND": "100",
        "NOTION_RETRY_BASE_SECONDS": "0.2",
        "NOTION_BACKOFF_SECONDS": "1",
        "NOTION_BACKOFF_MAX_SECONDS": "5",
        "REGISTRY_GIT_ALLOWED_HOSTS": "127.0.0.1",
        "REGISTRY_GIT_ALLOWED_SCHEMES": "git,http",
        "REGISTRY_GIT_TIMEOUT": "10",
        "REGISTRY_VALIDATION_SCHEDULE": "* * * * *",
        "REGISTRY_PUBLIC_URL": "https://registry.example.org",
    }


@dataclass
class Running:
    """A stack with its services, ready for a test: the API token and admin password made."""

    stack: Stack
    redis: OwnRedis
    database_url: str
    notion: Notion
    token: str
    postgres: OwnPostgres | None = None


def prepare(stack: Stack) -> str:
    """The release step, an admin, and a write token for the pipeline; the token."""
    stack.release()
    stack.manage(
        "createsuperuser",
        "--noinput",
        "--username",
        "admin",
        "--email",
        "admin@example.org",
        env={"DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
    )
    return stack.manage("create_api_token", "pipeline", "--scope", "write").strip()


@pytest.fixture(scope="module")
def stack_on_shared_postgres(
    tmp_path_factory: pytest.TempPathFactory, notion: Notion
) -> Iterator[Running]:
    """The stack on a new database of the PostgreSQL server DATABASE_URL names, and a Redis of
    its own (its queues and locks apart from every other test's)."""
    require_redis_server()
    database_url = fresh_database(postgres_server(), database_name("e2e"))
    redis = OwnRedis()
    redis.start()
    stack = Stack(
        stack_environment(database_url, redis.url, notion), tmp_path_factory.mktemp("stack")
    )
    try:
        yield Running(stack, redis, database_url, notion, prepare(stack))
    finally:
        stack.stop_all()
        redis.stop()
        drop_database(database_url)


@pytest.fixture(scope="module")
def stack_on_own_postgres(
    tmp_path_factory: pytest.TempPathFactory, notion: Notion
) -> Iterator[Running]:
    """The stack on a PostgreSQL cluster and a Redis of its own, both restartable. Run where
    the suite runs on PostgreSQL (CI); a laptop's SQLite run skips it, as the others."""
    postgres_server()
    require_redis_server()
    postgres = own_postgres()
    redis = OwnRedis()
    try:
        redis.start()
        database_url = fresh_database(postgres.url(), "rr_stack_faults")
        stack = Stack(
            stack_environment(database_url, redis.url, notion), tmp_path_factory.mktemp("stack")
        )
        try:
            yield Running(stack, redis, database_url, notion, prepare(stack), postgres)
        finally:
            stack.stop_all()
    finally:
        redis.stop()
        postgres.remove()
