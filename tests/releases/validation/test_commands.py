"""``validate_releases`` and ``validate_manifest --online`` against served repositories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from releases.models import RepositoryPin
from releases.validation.models import ValidationRun
from tests.gitserver import GitDaemon, RepositoryFolder

from .runs_world import Pin, World, build_world, manifest_text, store

pytestmark = pytest.mark.git
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def world(repository_folder: RepositoryFolder, git_daemon: GitDaemon, settings) -> World:
    built = build_world(repository_folder, git_daemon)
    settings.REGISTRY_GIT_URL_TEMPLATE = built.template
    settings.REGISTRY_GIT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.REGISTRY_GIT_ALLOWED_SCHEMES = ["git"]
    settings.REGISTRY_PACKAGE_INDEX_URL = None
    return built


def good_pins(world: World) -> list[Pin]:
    return [
        Pin("pytroll/fogpy", "v2.6.1", world.shas["fogpy v2.6.1"], "2.6.1"),
        Pin("fogpy_utils", "v1.4.2", world.shas["fogpy_utils v1.4.2"][:7], "1.4.2"),
    ]


def bad_pins(world: World) -> list[Pin]:
    return [
        *good_pins(world),
        Pin("chempipe-plugins", "v3.1.0", world.shas["fogpy v2.6.1 tag object"], "3.1.0"),
        Pin("chempipe-plugins-extra", "v1.0.0", None, None, url=world.url("chempipe-plugins")),
    ]


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((), "give at least one version, or --all"),
        (("1.4", "--all"), "give versions or --all, not both"),
    ],
)
def test_validate_releases_usage(arguments: tuple[str, ...], message: str) -> None:
    with pytest.raises(CommandError, match=message) as failed:
        run("validate_releases", *arguments)
    assert failed.value.returncode == 2


@pytest.mark.django_db
def test_validate_releases_unknown_version(world: World) -> None:
    store("1.4", good_pins(world))
    with pytest.raises(CommandError, match="unknown release version") as failed:
        run("validate_releases", "1.4", "9.9")
    assert failed.value.returncode == 1
    assert not ValidationRun.objects.exists()


@pytest.mark.django_db
def test_validate_releases_queues_runs(world: World, django_capture_on_commit_callbacks) -> None:
    store("1.4", good_pins(world))
    store("1.5", good_pins(world))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        out, _ = run("validate_releases", "--all")

    runs = list(ValidationRun.objects.order_by("pk"))
    assert [(run.release.version, run.state) for run in runs] == [
        ("1.4", "queued"),
        ("1.5", "queued"),
    ]
    assert out.splitlines() == [
        f"1.4: queued validation run #{runs[0].pk}",
        f"1.5: queued validation run #{runs[1].pk}",
        "queued 2 validation run(s)",
    ]
    assert len(callbacks) == 1  # one task for both


@pytest.mark.django_db
def test_validate_releases_wait_prints_each_pin_and_exits_0_when_valid(world: World) -> None:
    store("1.4", good_pins(world))

    out, _ = run("validate_releases", "1.4", "--wait")

    lines = out.splitlines()
    assert lines[0].startswith("1.4: run #") and lines[0].endswith(" 2 valid")
    assert lines[1:3] == [
        f"  pytroll/fogpy: valid {world.shas['fogpy v2.6.1']}",
        f"  fogpy_utils: valid {world.shas['fogpy_utils v1.4.2']}",
    ]
    assert lines[-1] == "validated 1 release(s): 0 with errors or not carried out"
    assert set(RepositoryPin.objects.values_list("validation_state", flat=True)) == {"valid"}


@pytest.mark.django_db
def test_validate_releases_wait_says_when_another_run_is_validating_the_release(
    world: World,
) -> None:
    release = store("1.4", good_pins(world))
    holder = ValidationRun.objects.create(
        release=release,
        requested_by="schedule",
        state="running",
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        attempt="a-live-worker",
    )

    out, _ = run("validate_releases", "1.4", "--wait")

    lines = out.splitlines()
    assert lines[0].startswith("1.4: run #")
    assert lines[0].endswith(
        f" superseded by run #{holder.pk}, which was validating the release and is still "
        "running: its results will be this run's"
    )
    assert lines[-1] == "validated 1 release(s): 0 with errors or not carried out"
    assert set(RepositoryPin.objects.values_list("validation_state", flat=True)) == {"unchecked"}


@pytest.mark.django_db
def test_validate_releases_wait_exits_1_when_errors_are_found(world: World) -> None:
    store("1.4", bad_pins(world))

    out = StringIO()
    with pytest.raises(CommandError, match="1 of 1 release") as failed:
        call_command("validate_releases", "1.4", "--wait", stdout=out, stderr=StringIO())

    assert failed.value.returncode == 1
    text = out.getvalue()
    assert "  chempipe-plugins: invalid" in text
    assert "error sha-mismatch at repositories[2].commit_sha: " in text
    assert "  chempipe-plugins-extra: invalid" in text  # its tag is not in that repository
    assert "error tag-missing at repositories[3].tag" in text


def test_validate_manifest_online_reports_online_findings(world: World, tmp_path: Path) -> None:
    good = tmp_path / "v1.4.json"
    good.write_text(manifest_text("1.4", good_pins(world)))
    bad = tmp_path / "v1.5.json"
    bad.write_text(manifest_text("1.5", bad_pins(world)))

    with pytest.raises(CommandError) as failed:
        run("validate_manifest", str(good), str(bad), "--online", "--format", "json")

    assert failed.value.returncode == 1

    out = StringIO()
    with pytest.raises(CommandError):
        call_command("validate_manifest", str(tmp_path), "--online", "--format", "json", stdout=out)
    reports = {report["version"]: report for report in json.loads(out.getvalue())}
    assert reports["1.4"]["valid"] is True and reports["1.4"]["findings"] == []
    assert [(f["code"], f["path"]) for f in reports["1.5"]["findings"]] == [
        ("sha-mismatch", "repositories[2].commit_sha"),
        ("tag-missing", "repositories[3].tag"),
    ]


def test_validate_manifest_without_online_contacts_nobody(world: World, tmp_path: Path) -> None:
    bad = tmp_path / "v1.5.json"
    bad.write_text(manifest_text("1.5", bad_pins(world)))

    out, _ = run("validate_manifest", str(bad))

    assert out.splitlines()[0] == f"{bad}: 1.5 ok"


def test_validate_manifest_online_needs_no_database(world: World, tmp_path: Path) -> None:
    path = tmp_path / "v1.5.json"
    path.write_text(manifest_text("1.5", bad_pins(world)))
    env = dict(
        os.environ,
        DATABASE_URL="postgres://nobody@127.0.0.1:9/none",
        DJANGO_SETTINGS_MODULE="config.settings.test",
        REGISTRY_GIT_URL_TEMPLATE=world.template,
        REGISTRY_GIT_ALLOWED_HOSTS="127.0.0.1",
        REGISTRY_GIT_ALLOWED_SCHEMES="git",
    )

    done = subprocess.run(
        [sys.executable, "manage.py", "validate_manifest", str(path), "--online"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{path}: 1.5 2 error(s), 0 warning(s)"
    assert lines[1].startswith("  repositories[2].commit_sha: ")
    assert lines[-1] == "checked 1 manifest(s): 1 with errors"
