"""Shared fixtures: real services when they are there, a clear skip when they are not.

Locally a missing PostgreSQL or Redis skips the tests that need it; in CI (``CI=true``) the
same absence fails them, so a broken CI setup cannot pass by skipping.
"""

import os
from typing import NoReturn
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
from django.db import connection
from hypothesis import settings as hypothesis_settings

# CI explores the same examples on every run, so a red build always means a change broke
# something; locally each run explores new ones (failures are kept in .hypothesis/ and
# replayed first).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"
POSTGRES_SCHEMES = ("postgres://", "postgresql://")
CONNECT_TIMEOUT_SECONDS = 3


def service_unavailable(message: str) -> NoReturn:
    """Skip the current test, or fail it when running in CI."""
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _where(url: str) -> str:
    # host:port only: a URL may carry a password, which never goes into a message.
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or ''}".rstrip(":")


def check_postgres() -> str:
    """Return DATABASE_URL if the test database is a reachable PostgreSQL; else skip/fail."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(POSTGRES_SCHEMES):
        service_unavailable("PostgreSQL not configured: DATABASE_URL is not a postgres:// URL")
    try:
        psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
    except psycopg.Error as exc:
        service_unavailable(f"PostgreSQL not reachable at {_where(url)}: {exc}")
    return url


def check_redis(url: str) -> str:
    """Return ``url`` if a Redis answers PING there; else skip/fail."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=CONNECT_TIMEOUT_SECONDS, socket_timeout=CONNECT_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        service_unavailable(f"Redis not reachable at {_where(url)}: {exc}")
    finally:
        client.close()
    return url


def pytest_runtest_setup(item: pytest.Item) -> None:
    # @pytest.mark.postgres / @pytest.mark.redis imply the matching check.
    if item.get_closest_marker("postgres"):
        check_postgres()
    if item.get_closest_marker("redis"):
        check_redis(os.environ.get("REDIS_URL") or DEFAULT_TEST_REDIS_URL)


@pytest.fixture
def require_postgres() -> str:
    """The DATABASE_URL of the PostgreSQL the tests run on."""
    return check_postgres()


@pytest.fixture
def redis_url() -> str:
    """A reachable Redis: REDIS_URL, else database 15 of a local server."""
    return check_redis(os.environ.get("REDIS_URL") or DEFAULT_TEST_REDIS_URL)


@pytest.fixture
def require_redis(redis_url: str) -> str:
    return redis_url


@pytest.fixture
def postgres_database(db: None) -> None:
    """Check that DATABASE_URL=postgres://... really made the tests run on PostgreSQL."""
    if os.environ.get("DATABASE_URL", "").startswith(POSTGRES_SCHEMES):
        assert connection.vendor == "postgresql", (
            f"DATABASE_URL names PostgreSQL but the test database is {connection.vendor}"
        )
