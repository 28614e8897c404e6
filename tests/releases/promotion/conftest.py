"""The fleet of releases, production's policy and the IaC repository fixtures."""

from typing import Any

import pytest

from tests.gitserver import (  # noqa: F401 (fixtures)
    _git_http_session,
    git_daemon,
    git_http,
    recorded_git,
    repository_folder,
)

from ..gitops.worktree import clone_root, make_repository, manifests_repo  # noqa: F401
from .fleet import build_fleet


@pytest.fixture
def fleet(db: None, django_user_model: Any) -> dict[str, Any]:
    return build_fleet(django_user_model)
