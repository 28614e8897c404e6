"""The project run in a process of its own, its settings coming only from what a test gives."""

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# What Python itself needs; nothing the settings read (DJANGO_*, DATABASE_URL, REDIS_URL,
# REGISTRY_*, NOTION_*...) passes from the test run's environment to the process.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR")


def run_project(
    *args: str, env: Mapping[str, str], cwd: Path = BASE_DIR, read_dot_env: str | None = "false"
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS...`` in ``cwd`` with the environment ``env``.

    ``read_dot_env`` is the value of DJANGO_READ_DOT_ENV_FILE ("false": ``cwd/.env`` is not
    read); None leaves it unset, so the settings module decides.
    """
    environment = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
    if read_dot_env is not None:
        environment["DJANGO_READ_DOT_ENV_FILE"] = read_dot_env
    environment.update(env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def settings_of(
    names: list[str],
    env: Mapping[str, str],
    cwd: Path = BASE_DIR,
    read_dot_env: str | None = "false",
) -> dict[str, object]:
    """The settings ``names`` of a process started with ``env``, as JSON (repr when not JSON)."""
    script = (
        "import json, sys; from django.conf import settings; "
        "print(json.dumps({name: getattr(settings, name) for name in sys.argv[1:]}, default=repr))"
    )
    result = run_project("-c", script, *names, env=env, cwd=cwd, read_dot_env=read_dot_env)
    assert result.returncode == 0, result.stderr
    shown: dict[str, object] = json.loads(result.stdout)
    return shown
