"""Real git repositories served on 127.0.0.1 (see tests/gitserver.py)."""

from tests.gitserver import (  # noqa: F401 (fixtures)
    _git_http_session,
    git_daemon,
    git_http,
    package_index,
    recorded_git,
    repository_folder,
    silent_server,
)
