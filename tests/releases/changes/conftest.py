"""Real repositories on 127.0.0.1 (tests/gitserver.py) and the releases that pin them."""

from __future__ import annotations

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests.gitserver import (  # noqa: F401 (fixtures)
    GitDaemon,
    RepositoryFolder,
    git_daemon,
    repository_folder,
)
from tests.releases.api.conftest import token_client

from .world import ChangesWorld, build_repositories, store_releases


@pytest.fixture
def world(
    repository_folder: RepositoryFolder,  # noqa: F811
    git_daemon: GitDaemon,  # noqa: F811
    settings,
    tmp_path: Path,
) -> ChangesWorld:
    settings.REGISTRY_GIT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.REGISTRY_GIT_ALLOWED_SCHEMES = ["git", "http"]
    settings.REGISTRY_GIT_TIMEOUT = 10
    settings.REGISTRY_GIT_CACHE_DIR = str(tmp_path / "clones")
    settings.REGISTRY_GIT_URL_TEMPLATE = None
    built = build_repositories(repository_folder, git_daemon)
    store_releases(built)
    return built


@pytest.fixture
def reader(db: None) -> APIClient:
    return token_client("dashboard", "read")
