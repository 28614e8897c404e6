"""What `make run` and `make test` do on a fresh clone: a first run that reads clean, and tests
that leave the development database alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from tests.processes import manage

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = "examples/manifests"


def make_dry_run(target: str) -> str:
    """The commands ``make TARGET`` would run, without running them."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    done = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=30, check=True
    )
    return done.stdout


def test_make_test_does_not_migrate_the_development_database():
    commands = make_dry_run("test")

    assert "pytest" in commands
    assert "migrate" not in commands
    assert "db.sqlite3" not in commands


@pytest.mark.django_db
def test_the_tests_run_on_a_database_of_their_own():
    assert "db.sqlite3" not in str(connection.settings_dict["NAME"])


def test_make_run_imports_the_examples_in_the_short_form():
    commands = make_dry_run("run").splitlines()

    imports = [line for line in commands if "import_manifest" in line]
    assert imports == [".venv/bin/python manage.py import_manifest examples/manifests --only-new"]


@pytest.mark.django_db
def test_the_first_run_prints_one_line_per_example_and_findings_as_a_count(monkeypatch):
    monkeypatch.chdir(ROOT)  # as make runs it, with the relative path
    out = StringIO()

    call_command("import_manifest", EXAMPLES, "--only-new", stdout=out, stderr=out)

    assert out.getvalue().splitlines() == [
        f"{EXAMPLES}/v1.2.yaml: 1.2 created (4 pins, 1 deployment)",
        f"{EXAMPLES}/v1.3.yaml: 1.3 created (4 pins, 2 deployments)",
        f"{EXAMPLES}/v1.4.yaml: 1.4 created (4 pins, 2 deployments); "
        "3 findings: see the admin or validate_manifest",
        f"{EXAMPLES}/v1.5.yaml: 1.5 created (4 pins, 2 deployments)",
        "imported 4 manifest(s): 4 created, 0 updated, 0 unchanged",
    ]
    # Nothing a new user reads looks like a failure.
    assert "error" not in out.getvalue().lower()

    # Running it again changes nothing and says so, one line per example.
    again = StringIO()
    call_command("import_manifest", EXAMPLES, "--only-new", stdout=again, stderr=again)
    assert again.getvalue().splitlines()[-1] == (
        "imported 4 manifest(s): 0 created, 0 updated, 0 unchanged, 4 skipped (already stored)"
    )
    assert len(again.getvalue().splitlines()) == 5


@pytest.mark.django_db
def test_verbosity_2_lists_each_finding_and_0_only_the_summary(monkeypatch):
    monkeypatch.chdir(ROOT)
    detailed, quiet = StringIO(), StringIO()

    call_command(
        "import_manifest", f"{EXAMPLES}/v1.4.yaml", "--dry-run", "-v", "2", stdout=detailed
    )
    call_command("import_manifest", f"{EXAMPLES}/v1.4.yaml", "--dry-run", "-v", "0", stdout=quiet)

    lines = detailed.getvalue().splitlines()
    assert lines[0] == f"{EXAMPLES}/v1.4.yaml: 1.4 would be created (4 pins, 2 deployments)"
    assert [line.split(":")[0] for line in lines[1:4]] == [
        "  repositories[1].commit_sha",
        "  repositories[2].commit_sha",
        "  repositories[3].commit_sha",
    ]
    assert all("[sha-malformed]" in line for line in lines[1:4])
    assert quiet.getvalue().splitlines() == [
        "would import 1 manifest(s): 1 created, 0 updated, 0 unchanged; nothing written (dry run)"
    ]


def test_the_first_run_prints_one_line_per_example_and_nothing_else(tmp_path):
    # As `make run` does it: local settings, no Redis (tasks in-process), a new database.
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "CI")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_READ_DOT_ENV_FILE="false",
    )
    assert manage(env, "migrate", "-v0").returncode == 0
    done = manage(env, "import_manifest", "examples/manifests", "--only-new")

    assert done.returncode == 0
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 5 and lines[-1].startswith("imported 4 manifest(s): 4 created")
