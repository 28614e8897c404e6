"""``sync_manifests_repo [--dry-run]``, the round trip with ``export_manifest --output-dir``,
the URL policy, and the beat schedule."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask
from pytest_django.fixtures import Settings

from releases.exporting import export_release
from releases.gitops.models import ManifestSource, ManifestSync
from releases.gitops.schedule import NAME, TASK, cron_fields, ensure_schedule
from releases.importing import import_manifests
from releases.models import EnvironmentDeployment, PinDependency, Release, RepositoryPin
from tests.releases.corpus import generate_corpus, nested_release

from .texts import manifest_text
from .worktree import ManifestsWorkTree

pytestmark = pytest.mark.django_db

HISTORY = (Release, RepositoryPin, PinDependency, EnvironmentDeployment)


@pytest.fixture
def configured(
    settings: Settings, manifests_repo: ManifestsWorkTree, tmp_path: Path
) -> ManifestsWorkTree:
    settings.REGISTRY_MANIFESTS_REPO_URL = manifests_repo.url
    settings.REGISTRY_GIT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.REGISTRY_GIT_ALLOWED_SCHEMES = ["git", "http"]
    settings.REGISTRY_GIT_CACHE_DIR = str(tmp_path / "cache")
    return manifests_repo


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("sync_manifests_repo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def history_rows() -> list[int]:
    return [model.history.model.objects.count() for model in HISTORY]


def test_dry_run_writes_nothing_then_the_sync_imports(configured: ManifestsWorkTree) -> None:
    configured.write("manifests/v1.4.yaml", manifest_text("1.4"))
    commit = configured.commit()
    configured.push("main")

    out, _ = run("--dry-run")
    where = f"main@{commit[:12]}:manifests/v1.4.yaml"
    assert out.splitlines()[0] == f"{where}: 1.4 would be created (4 pins, 1 deployment)"
    assert out.splitlines()[-1].endswith("1 file(s) read; nothing written (dry run)")
    assert not Release.objects.exists()
    assert not ManifestSource.objects.exists()
    assert not ManifestSync.objects.exists()

    out, _ = run()
    assert out.splitlines()[0] == f"{where}: 1.4 created (4 pins, 1 deployment)"
    assert "1 created, 0 updated, 0 unchanged" in out.splitlines()[-1]
    run_row = ManifestSync.objects.get()
    assert (run_row.state, run_row.trigger, run_row.counts["created"]) == ("done", "command", 1)
    assert run_row.branches == {"main": commit}

    out, _ = run()
    assert "0 created, 0 updated, 1 unchanged" in out and "0 file(s) read" in out


def test_exit_1_with_the_located_rejection(configured: ManifestsWorkTree) -> None:
    configured.write("manifests/v1.4.yaml", manifest_text("1.4"))
    configured.write("manifests/v1.5.yaml", 'version: "1.5"\nrepositories: []\n')
    commit = configured.commit()
    configured.push("main")
    err = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("sync_manifests_repo", stdout=StringIO(), stderr=err)
    assert raised.value.returncode == 1
    assert f"main@{commit[:12]}:manifests/v1.5.yaml: repositories" in err.getvalue()
    assert Release.objects.filter(version="1.4").exists()


def test_a_url_the_policy_refuses_runs_no_git(
    settings: Settings, tmp_path: Path, configured: ManifestsWorkTree
) -> None:
    settings.REGISTRY_GIT_ALLOWED_SCHEMES = ["https"]
    with pytest.raises(CommandError, match="scheme 'git' is not allowed") as raised:
        run()
    assert raised.value.returncode == 1
    assert not (tmp_path / "cache").exists()
    settings.REGISTRY_MANIFESTS_REPO_URL = f"file://{configured.remote}"
    with pytest.raises(CommandError, match="file:// URLs"):
        run()
    settings.REGISTRY_MANIFESTS_REPO_URL = None
    with pytest.raises(CommandError, match="REGISTRY_MANIFESTS_REPO_URL is not set"):
        run()


def test_an_unreachable_repository_fails_the_run(
    settings: Settings, configured: ManifestsWorkTree
) -> None:
    settings.REGISTRY_MANIFESTS_REPO_URL = configured.url.replace("release-orchestrator", "missing")
    settings.REGISTRY_GIT_TIMEOUT = 5
    with pytest.raises(CommandError, match="the sync failed"):
        run()
    assert ManifestSync.objects.get().state == "failed"


def test_an_exported_folder_synced_back_is_unchanged(configured: ManifestsWorkTree) -> None:
    manifests = [*generate_corpus(releases=3, pins=80), nested_release(pins=40)]
    import_manifests([(f"v{m.version}.yaml", m) for m in manifests])
    call_command(
        "export_manifest",
        "--all",
        "--output-dir",
        str(configured.work / "manifests"),
        stdout=StringIO(),
    )
    configured.commit("the registry's releases")
    configured.push("main")
    before = history_rows()
    revisions = dict(Release.objects.values_list("version", "revision"))

    out, _ = run()

    assert f"0 created, 0 updated, {len(manifests)} unchanged" in out.splitlines()[-1]
    assert history_rows() == before
    assert dict(Release.objects.values_list("version", "revision")) == revisions
    for manifest in manifests:
        path = configured.work / "manifests" / f"v{manifest.version}.yaml"
        assert export_release(manifest.version) == path.read_text(encoding="utf-8")
    # From now on the repository is the source of each release.
    assert ManifestSource.objects.count() == len(manifests)


def test_the_schedule_entry_is_made_once_and_follows_the_settings(settings: Settings) -> None:
    settings.REGISTRY_MANIFESTS_REPO_URL = None
    settings.REGISTRY_MANIFESTS_SYNC_SCHEDULE = "*/5 * * * *"
    task = ensure_schedule()
    assert (task.task, task.enabled, task.crontab.minute) == (TASK, False, "*/5")
    settings.REGISTRY_MANIFESTS_REPO_URL = "https://github.com/acme/release-orchestrator.git"
    settings.REGISTRY_MANIFESTS_SYNC_SCHEDULE = "0 * * * 1-5"
    ensure_schedule()
    ensure_schedule()
    task = PeriodicTask.objects.get(name=NAME)
    assert task.enabled
    assert (task.crontab.minute, task.crontab.day_of_week) == ("0", "1-5")
    assert str(task.crontab.timezone) == "UTC"


@pytest.mark.parametrize("expression", ["*/5 * * *", "61 * * * *", "every five minutes"])
def test_a_malformed_schedule_names_the_setting(expression: str) -> None:
    with pytest.raises(ValueError, match="REGISTRY_MANIFESTS_SYNC_SCHEDULE"):
        cron_fields(expression)


def test_the_schedule_exists_after_migrate() -> None:
    # post_migrate ran when the test database was made.
    assert PeriodicTask.objects.filter(name=NAME, task=TASK).exists()


def test_an_abbreviated_option_is_refused(configured: ManifestsWorkTree) -> None:
    with pytest.raises(CommandError, match="unrecognized arguments: --dry"):
        run("--dry")
    assert not ManifestSync.objects.exists()
