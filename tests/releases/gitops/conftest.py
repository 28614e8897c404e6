"""Real git servers (tests/gitserver.py) and the IaC repository builder (worktree.py)."""

from tests.gitserver import (  # noqa: F401 (fixtures)
    _git_http_session,
    git_daemon,
    git_http,
    recorded_git,
    repository_folder,
)

from .worktree import clone_root, make_repository, manifests_repo  # noqa: F401 (fixtures)
