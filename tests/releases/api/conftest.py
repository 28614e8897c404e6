"""API clients authenticated by real tokens (made by the service the command uses)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from releases import revision_cache
from releases.api.models import ApiToken
from tests.gitserver import GitDaemon, RepositoryFolder, git_daemon, repository_folder  # noqa: F401
from tests.releases.validation.runs_world import World, build_world


def token_client(name: str, scope: str) -> APIClient:
    _token, key = ApiToken.create_token(name, scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture(autouse=True)
def fresh_throttle_counts() -> Iterator[None]:
    # The throttle counts requests in the cache, which outlives a test's database (as do the
    # API's cached reads, in this process's memory too).
    revision_cache.clear()
    yield
    revision_cache.clear()


@pytest.fixture
def writer(db: None) -> APIClient:
    return token_client("iac-pipeline", "write")


@pytest.fixture
def reader(db: None) -> APIClient:
    return token_client("dashboard", "read")


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def world(repository_folder: RepositoryFolder, git_daemon: GitDaemon, settings: Any) -> World:  # noqa: F811
    """Real repositories served by ``git daemon`` on 127.0.0.1, and the settings that let the
    validator reach them."""
    built = build_world(repository_folder, git_daemon)
    settings.REGISTRY_GIT_URL_TEMPLATE = built.template
    settings.REGISTRY_GIT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.REGISTRY_GIT_ALLOWED_SCHEMES = ["git", "http"]
    settings.REGISTRY_GIT_TIMEOUT = 10
    settings.REGISTRY_PACKAGE_INDEX_URL = None
    return built
