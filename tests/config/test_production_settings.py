"""config.settings.production fails closed: it starts fully configured or not at all.

Each test runs ``manage.py`` in a process of its own whose environment holds only what the
test gives (no variable of this test run, no ``.env`` file).
"""

import secrets
import shutil
from pathlib import Path

import pytest

from .project import BASE_DIR, run_project, settings_of

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DATABASE_URL": "postgres://registry:DatabasePassword42@127.0.0.1:5432/rr_prod",
    "REDIS_URL": "redis://127.0.0.1:6379/4",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "registry.example.org",
}
REQUIRED = ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS")


def deploy_check(env: dict[str, str]) -> tuple[int, str]:
    result = run_project("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)
    return result.returncode, result.stdout + result.stderr


def test_production_with_everything_set_passes_the_deploy_check_cleanly() -> None:
    returncode, output = deploy_check(PRODUCTION)
    assert returncode == 0, output
    assert output.strip() == "System check identified no issues (0 silenced)."


def test_production_sends_tasks_to_the_broker_and_requires_it() -> None:
    shown = settings_of(
        [
            "CELERY_TASK_ALWAYS_EAGER",
            "CELERY_BROKER_URL",
            "CELERY_RESULT_BACKEND",
            "REGISTRY_REQUIRE_BROKER",
            "DEBUG",
        ],
        PRODUCTION,
    )
    assert shown == {
        "CELERY_TASK_ALWAYS_EAGER": False,
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/4",
        "CELERY_RESULT_BACKEND": "redis://127.0.0.1:6379/4",
        "REGISTRY_REQUIRE_BROKER": True,
        "DEBUG": False,
    }


@pytest.mark.parametrize("variable", REQUIRED)
@pytest.mark.parametrize("how", ["unset", "empty"])
def test_production_refuses_to_start_without_a_required_variable(variable: str, how: str) -> None:
    env = {key: value for key, value in PRODUCTION.items() if key != variable}
    if how == "empty":
        env[variable] = " "
    returncode, output = deploy_check(env)
    assert returncode != 0
    assert "System check identified" not in output
    last_line = output.strip().splitlines()[-1]
    assert last_line.startswith(
        f"django.core.exceptions.ImproperlyConfigured: Set the {variable} environment variable: "
    ), output


def test_production_refuses_allowed_hosts_of_commas_only() -> None:
    returncode, output = deploy_check({**PRODUCTION, "DJANGO_ALLOWED_HOSTS": ", ,"})
    assert returncode != 0
    assert output.strip().endswith("DJANGO_ALLOWED_HOSTS names no host (only commas).")


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("sqlite:////srv/registry/db.sqlite3", "'sqlite'"),
        ("mysql://registry:MysqlPassword42@db.internal/registry", "'mysql'"),
    ],
)
def test_production_refuses_a_database_other_than_postgresql(url: str, scheme: str) -> None:
    returncode, output = deploy_check({**PRODUCTION, "DATABASE_URL": url})
    assert returncode != 0
    assert (
        "ImproperlyConfigured: DATABASE_URL must name a PostgreSQL database (postgres://...) "
        f"in production, not a {scheme} one" in output
    )
    assert "MysqlPassword42" not in output


def test_a_database_url_that_is_no_url_is_refused_without_repeating_it() -> None:
    returncode, output = deploy_check({**PRODUCTION, "DATABASE_URL": "//registry:Pa55word@db/x"})
    assert returncode != 0
    assert "ImproperlyConfigured: DATABASE_URL is not a database URL" in output
    assert "Pa55word" not in output


def test_production_refuses_a_broker_that_is_not_redis() -> None:
    returncode, output = deploy_check({**PRODUCTION, "REDIS_URL": "memory://"})
    assert returncode != 0
    assert output.strip().endswith(
        "REDIS_URL must be a redis://, rediss:// or unix:// URL in production, not 'memory'"
    )


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The settings package alone in a folder of its own, where a test may write a ``.env``."""
    shutil.copytree(
        BASE_DIR / "config", tmp_path / "config", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def test_a_dot_env_file_is_read_locally_but_not_by_the_tests(project_copy: Path) -> None:
    (project_copy / ".env").write_text("REDIS_URL=redis://127.0.0.1:6379/4\n")
    local = {"DJANGO_SETTINGS_MODULE": "config.settings.local"}
    test = {"DJANGO_SETTINGS_MODULE": "config.settings.test"}
    # The file is live: the local settings read it by default...
    assert settings_of(["REDIS_URL"], local, cwd=project_copy, read_dot_env=None) == {
        "REDIS_URL": "redis://127.0.0.1:6379/4"
    }
    # ...not when told not to, as in the processes these tests start,
    assert settings_of(["REDIS_URL"], local, cwd=project_copy) == {"REDIS_URL": None}
    # and the test settings not by default.
    assert settings_of(["REDIS_URL"], test, cwd=project_copy, read_dot_env=None) == {
        "REDIS_URL": None
    }


def test_a_dot_env_file_cannot_complete_the_production_settings_of_a_test(
    project_copy: Path,
) -> None:
    dot_env = "".join(f"{key}={value}\n" for key, value in PRODUCTION.items() if key in REQUIRED)
    (project_copy / ".env").write_text(dot_env)
    production = {"DJANGO_SETTINGS_MODULE": "config.settings.production"}
    # Read, the file would complete the settings (so the test below is not vacuous)...
    assert settings_of(["ALLOWED_HOSTS"], production, cwd=project_copy, read_dot_env="true") == {
        "ALLOWED_HOSTS": ["registry.example.org"]
    }
    # ...but these tests' processes do not read it.
    result = run_project(
        "-c", "from django.conf import settings; settings.DEBUG", env=production, cwd=project_copy
    )
    assert result.returncode != 0
    assert "Set the DJANGO_SECRET_KEY environment variable" in result.stderr
