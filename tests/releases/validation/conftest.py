"""Real git repositories served on 127.0.0.1 (see tests/gitserver.py)."""

import pytest

from tests.gitserver import (  # noqa: F401 (fixtures)
    _git_http_session,
    git_daemon,
    git_http,
    package_index,
    recorded_git,
    repository_folder,
    silent_server,
)

from .runs_world import World, build_world


@pytest.fixture
def world(repository_folder, git_daemon, settings) -> World:  # noqa: F811
    """The runs' repositories, served by git daemon, named through the URL template; no
    package index. (Modules that need more settings have a ``world`` of their own.)"""
    built = build_world(repository_folder, git_daemon)
    settings.REGISTRY_GIT_URL_TEMPLATE = built.template
    settings.REGISTRY_PACKAGE_INDEX_URL = None
    return built
