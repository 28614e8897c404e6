"""Validation runs against real repositories served by ``git daemon`` on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from registry.git.policy import GitPolicy, policy_from_settings
from releases import changes
from releases.models import Release, RepositoryPin
from releases.validation import runs as service
from releases.validation.models import ValidationRun
from releases.validation.runs import (
    execute_run,
    execute_runs,
    request_run,
    request_runs,
    validate_release_now,
)
from tests.gitserver import GIT, GitDaemon, PackageIndexServer, RecordedGit, RepositoryFolder

from .runs_world import Pin, World, build_world, eager_tasks, store

pytestmark = [pytest.mark.django_db, pytest.mark.git]


@pytest.fixture
def world(repository_folder: RepositoryFolder, git_daemon: GitDaemon, settings) -> World:
    built = build_world(repository_folder, git_daemon)
    settings.REGISTRY_GIT_URL_TEMPLATE = built.template
    settings.REGISTRY_GIT_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.REGISTRY_GIT_ALLOWED_SCHEMES = ["git", "http"]
    settings.REGISTRY_GIT_TIMEOUT = 10
    settings.REGISTRY_PACKAGE_INDEX_URL = None
    return built


def four_pins(world: World) -> list[Pin]:
    """valid, warning (yanked on the index), invalid (SHA mismatch), unreachable."""
    return [
        Pin("pytroll/fogpy", "v2.6.1", world.shas["fogpy v2.6.1"][:12], "2.6.1"),
        Pin("fogpy_utils", "v1.4.2", world.shas["fogpy_utils v1.4.2"], "1.4.2"),
        Pin("chempipe-plugins", "v3.1.0", world.shas["fogpy other"], "3.1.0"),
        Pin("pytroll/missing-repo", "v0.1.0", "a" * 40, None),
    ]


@pytest.fixture
def index(package_index: PackageIndexServer, settings) -> PackageIndexServer:
    package_index.projects = {
        "fogpy": {"2.6.1": False},
        "fogpy-utils": {"1.4.2": True},
        "chempipe-plugins": {"3.1.0": False},
    }
    settings.REGISTRY_PACKAGE_INDEX_URL = package_index.root
    return package_index


def test_a_run_gives_each_pin_its_state_commit_and_findings(world: World, index) -> None:
    release = store("1.4", four_pins(world))

    run = validate_release_now(release, requested_by="zoë")

    assert run.state == "done" and run.error == ""
    assert run.requested_by == "zoë"
    assert run.started_at is not None and run.finished_at is not None
    assert run.queued_at <= run.started_at <= run.finished_at
    assert run.counts == {
        "valid": 1,
        "warning": 1,
        "invalid": 1,
        "unreachable": 1,
        "unchecked": 0,
    }
    by_name = {result["repository"]: result for result in run.results}
    assert [result["path"] for result in run.results] == [f"repositories[{i}]" for i in range(4)]
    assert set(run.results[0]) == {"repository", "path", "state", "commit", "findings"}
    assert by_name["pytroll/fogpy"] == {
        "repository": "pytroll/fogpy",
        "path": "repositories[0]",
        "state": "valid",
        "commit": world.shas["fogpy v2.6.1"],
        "findings": [],
    }
    yanked = by_name["fogpy_utils"]
    assert yanked["state"] == "warning"
    assert [(f["code"], f["severity"]) for f in yanked["findings"]] == [
        ("package-yanked", "warning")
    ]
    mismatch = by_name["chempipe-plugins"]
    assert mismatch["state"] == "invalid"
    assert mismatch["commit"] == world.shas["chempipe-plugins v3.1.0"]
    assert [(f["code"], f["path"]) for f in mismatch["findings"]] == [
        ("sha-mismatch", "repositories[2].commit_sha")
    ]
    assert world.shas["chempipe-plugins v3.1.0"] in mismatch["findings"][0]["message"]
    unreachable = by_name["pytroll/missing-repo"]
    # Never "invalid": nothing is known about a repository that could not be listed.
    assert unreachable["state"] == "unreachable" and unreachable["commit"] is None
    assert [f["code"] for f in unreachable["findings"]] == ["unreachable"]

    pins = {pin.repository.name: pin for pin in RepositoryPin.objects.select_related("repository")}
    assert {name: pin.validation_state for name, pin in pins.items()} == {
        "pytroll/fogpy": "valid",
        "fogpy_utils": "warning",
        "chempipe-plugins": "invalid",
        "pytroll/missing-repo": "unreachable",
    }
    assert all(pin.validated_at == run.finished_at for pin in pins.values())
    assert pins["chempipe-plugins"].findings == mismatch["findings"]


def test_the_same_pin_in_several_releases_is_judged_at_its_own_place(world: World) -> None:
    valid, _, mismatch, _ = four_pins(world)
    first = store("1.4", [valid, mismatch])
    second = store("1.5", [mismatch, valid])

    runs = service.validate_releases_now([first, second], requested_by="zoë")

    assert [
        [(r["repository"], r["state"], [f["path"] for f in r["findings"]]) for r in run.results]
        for run in runs
    ] == [
        [
            ("pytroll/fogpy", "valid", []),
            ("chempipe-plugins", "invalid", ["repositories[1].commit_sha"]),
        ],
        [
            ("chempipe-plugins", "invalid", ["repositories[0].commit_sha"]),
            ("pytroll/fogpy", "valid", []),
        ],
    ]
    assert [run.results[0]["commit"] for run in runs] == [
        world.shas["fogpy v2.6.1"],
        world.shas["chempipe-plugins v3.1.0"],
    ]


def test_online_findings_are_replaced_and_offline_ones_kept(world: World) -> None:
    chem = world.repositories["chempipe-plugins"]
    hotfix = chem.commit("hotfix")
    pins = four_pins(world)[:3]
    # An offline warning: the package version does not match the tag.
    pins[0].package_version = "2.6.2"
    # The commit the tag will point at once it is moved.
    pins[2].commit_sha = hotfix
    release = store("1.4", pins)
    first = validate_release_now(release, requested_by="zoë")
    assert first.results[2]["state"] == "invalid"

    chem.move_tag("v3.1.0", hotfix)
    run = validate_release_now(release, requested_by="zoë")

    fogpy, _utils, chem_pin = RepositoryPin.objects.order_by("position")
    assert [f["code"] for f in fogpy.findings] == ["version-mismatch"]
    assert fogpy.validation_state == "invalid"  # a version mismatch is an error
    assert chem_pin.findings == [] and chem_pin.validation_state == "valid"
    assert run.results[2]["commit"] == hotfix
    assert run.counts["valid"] == 2 and run.counts["invalid"] == 1


def test_a_run_that_finds_what_the_run_before_found_stores_the_same_results(
    world: World,
) -> None:
    chem = world.repositories["chempipe-plugins"]
    hotfix = chem.commit("hotfix")
    pins = four_pins(world)[:3]
    pins[2].commit_sha = hotfix
    release = store("1.4", pins)
    first = validate_release_now(release, requested_by="zoë")
    second = validate_release_now(release, requested_by="zoë")  # nothing changed
    chem.move_tag("v3.1.0", hotfix)
    third = validate_release_now(release, requested_by="zoë")

    stored = ValidationRun.objects.in_bulk([first.pk, second.pk, third.pk])
    assert stored[second.pk].results == stored[first.pk].results == first.results
    assert second.results == first.results
    assert stored[second.pk].counts == first.counts
    # The tag moved: other results, stored as found.
    assert stored[third.pk].results == third.results != first.results
    assert (third.results[2]["state"], third.results[2]["commit"]) == ("valid", hotfix)
    # Written by the first and the third, copied by the second.
    assert [bool(stored[run.pk].results_digest) for run in (first, second, third)] == [
        True,
        False,
        True,
    ]


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_earlier_results_are_deleted_while_it_lists_writes_its_own(
    world: World, tmp_path
) -> None:
    """The runs a run may copy its results from are read while the remotes are listed; one
    deleted before the run is recorded is not copied from: the run writes its results."""
    release = store("1.4", four_pins(world)[:3])
    first = validate_release_now(release, requested_by="zoë")
    started, go = tmp_path / "started", tmp_path / "go"
    waiting = tmp_path / "waiting-git"
    waiting.write_text(
        f'#!/bin/sh\ntouch "{started}"\n'
        f'while [ ! -e "{go}" ]; do sleep 0.05; done\nexec "{GIT}" "$@"\n'
    )
    waiting.chmod(0o755)
    policy = GitPolicy.build(schemes=["git"], hosts=["127.0.0.1"], timeout=20, git=str(waiting))

    def delete_meanwhile() -> None:
        try:
            while not started.exists():
                time.sleep(0.02)
            time.sleep(0.5)  # the run has read the runs it may copy from by now
            ValidationRun.objects.filter(pk=first.pk).delete()
        finally:
            go.touch()
            connection.close()

    other = threading.Thread(target=delete_meanwhile)
    other.start()
    second = validate_release_now(release, requested_by="zoë", policy=policy)
    other.join()

    assert not ValidationRun.objects.filter(pk=first.pk).exists()
    stored = ValidationRun.objects.get(pk=second.pk)
    assert stored.state == "done"
    assert stored.results == first.results and stored.counts == first.counts
    assert [entry["state"] for entry in stored.results] == ["valid", "valid", "invalid"]
    assert stored.results_digest  # written, not copied


def test_a_pin_without_url_stays_unchecked(world: World, settings) -> None:
    settings.REGISTRY_GIT_URL_TEMPLATE = None
    release = store("1.4", four_pins(world)[:1])

    run = validate_release_now(release, requested_by="zoë")

    assert run.counts["unchecked"] == 1
    assert [f["code"] for f in run.results[0]["findings"]] == ["url-missing"]
    assert RepositoryPin.objects.get().validation_state == "unchecked"


def test_one_ls_remote_per_distinct_url_for_all_runs_of_one_task(
    world: World, recorded_git: RecordedGit
) -> None:
    releases = [
        store(f"1.{minor}", four_pins(world)[:3] if minor % 2 else four_pins(world))
        for minor in range(5)
    ]
    runs = request_runs_without_task(releases)

    finished = execute_runs([run.pk for run in runs], policy=recorded_git.policy())

    assert [run.state for run in finished] == ["done"] * 5
    listed = recorded_git.calls("ls-remote")
    assert len(listed) == 4  # three served repositories and the missing one
    assert {line.rsplit(" ", 1)[1] for line in listed} == {
        world.url(name)
        for name in ("pytroll/fogpy", "fogpy_utils", "chempipe-plugins", "pytroll/missing-repo")
    }


def request_runs_without_task(releases: list[Release]) -> list[ValidationRun]:
    return [ValidationRun.objects.create(release=release, requested_by="t") for release in releases]


def test_the_run_row_is_queued_before_its_task_runs(
    world: World, django_capture_on_commit_callbacks
) -> None:
    release = store("1.4", four_pins(world)[:1])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = request_run(release, requested_by="api-token ci")
    stored = ValidationRun.objects.get(pk=run.pk)
    assert (stored.state, stored.started_at, stored.requested_by) == (
        "queued",
        None,
        "api-token ci",
    )
    assert len(callbacks) == 1
    assert RepositoryPin.objects.get().validated_at is None

    with eager_tasks():
        callbacks[0]()

    stored.refresh_from_db()
    assert stored.state == "done" and stored.counts["valid"] == 1
    assert stored.task_id  # the task carries the id stored on the row


def test_several_releases_queue_one_task(world: World, django_capture_on_commit_callbacks):
    releases = [store(f"2.{i}", four_pins(world)[:1]) for i in range(3)]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        runs = request_runs(releases, requested_by="schedule")
    assert len(callbacks) == 1
    assert len({run.task_id for run in runs}) == 1
    with eager_tasks():
        callbacks[0]()
    assert set(ValidationRun.objects.values_list("state", flat=True)) == {"done"}


def test_a_finished_run_is_not_carried_out_again(world: World, recorded_git: RecordedGit):
    release = store("1.4", four_pins(world)[:2])
    run = ValidationRun.objects.create(release=release, requested_by="t")
    first = execute_run(run.pk, policy=recorded_git.policy())
    revision = Release.objects.get().revision

    again = execute_run(run.pk, policy=recorded_git.policy())

    assert len(recorded_git.calls("ls-remote")) == 2
    assert (again.state, again.finished_at, again.results) == (
        "done",
        first.finished_at,
        first.results,
    )
    assert Release.objects.get().revision == revision


def test_a_run_that_cannot_be_carried_out_is_marked_failed(world: World, settings) -> None:
    release = store("1.4", four_pins(world)[:2])
    settings.REGISTRY_GIT_URL_TEMPLATE = "https://github.com/acme/repository.git"

    run = validate_release_now(release, requested_by="zoë")

    assert run.state == "failed"
    assert "REGISTRY_GIT_URL_TEMPLATE must contain {name}" in run.error
    assert run.finished_at is not None
    assert set(RepositoryPin.objects.values_list("validation_state", flat=True)) == {"unchecked"}


def test_a_release_another_live_run_holds_is_skipped(world: World, recorded_git: RecordedGit):
    release = store("1.4", four_pins(world)[:2])
    holder = ValidationRun.objects.create(
        release=release, requested_by="t", state="running", started_at=timezone.now()
    )
    late = ValidationRun.objects.create(release=release, requested_by="t")

    skipped = execute_run(late.pk, policy=recorded_git.policy())

    # Not a failure: the validation asked for was under way; its results will be this run's.
    assert (skipped.state, skipped.superseded_by_id, skipped.error) == ("done", holder.pk, "")
    assert skipped.outcome == f"superseded by run #{holder.pk}"
    assert recorded_git.calls("ls-remote") == []
    assert set(RepositoryPin.objects.values_list("validation_state", flat=True)) == {"unchecked"}


def test_a_run_left_running_by_a_dead_worker_does_not_hold_the_release(
    world: World, recorded_git: RecordedGit, settings
):
    settings.REGISTRY_VALIDATION_TIME_LIMIT = 60
    release = store("1.4", four_pins(world)[:2])
    ValidationRun.objects.create(
        release=release,
        requested_by="t",
        state="running",
        started_at=timezone.now() - timedelta(hours=1),
    )
    run = ValidationRun.objects.create(release=release, requested_by="t")

    assert execute_run(run.pk, policy=recorded_git.policy()).state == "done"


def test_a_result_bumps_the_revision_once_and_is_announced_once(world: World) -> None:
    release = store("1.4", four_pins(world))
    revision = Release.objects.get().revision
    announced: list[changes.ReleaseChange] = []

    def receiver(sender, change, **kwargs) -> None:
        announced.append(change)

    changes.release_changed.connect(receiver)
    try:
        validate_release_now(release, requested_by="zoë")
        # Nothing changed on the remotes: the second run only refreshes validated_at.
        second = validate_release_now(release, requested_by="zoë")
    finally:
        changes.release_changed.disconnect(receiver)

    assert Release.objects.get().revision == revision + 1
    assert len(announced) == 1
    change = announced[0]
    assert (change.source, change.actor, change.version, change.release) == (
        "validation",
        "zoë",
        "1.4",
        None,
    )
    assert change.pins.changed == (
        "chempipe-plugins",
        "fogpy_utils",
        "pytroll/fogpy",
        "pytroll/missing-repo",
    )
    assert set(RepositoryPin.objects.values_list("validated_at", flat=True)) == {second.finished_at}
    # One history record per pin for the change, none for the refresh.
    records = RepositoryPin.history.filter(history_change_reason="validation")
    assert sorted(records.values_list("validation_state", "history_type")) == [
        ("invalid", "~"),
        ("unreachable", "~"),
        ("valid", "~"),
        ("valid", "~"),
    ]


def test_the_history_of_a_run_holds_each_changed_pin_as_the_run_left_it(
    world: World, django_user_model
) -> None:
    user = django_user_model.objects.create_user("zoë")
    release = store("1.4", four_pins(world))
    before = RepositoryPin.history.count()

    run = validate_release_now(release, requested_by="zoë", user=user)
    assert run.started_at is not None and run.finished_at is not None

    fields = [field.attname for field in RepositoryPin._meta.concrete_fields]
    pins = {pin.pk: pin for pin in RepositoryPin.objects.all()}
    records = list(RepositoryPin.history.order_by("history_id")[before:])
    assert sorted(record.id for record in records) == sorted(pins)
    for record in records:
        pin = pins[record.id]
        assert {name: getattr(record, name) for name in fields} == {
            name: getattr(pin, name) for name in fields
        }
        assert pin.validated_at == run.finished_at
        assert (record.history_type, record.history_change_reason, record.history_user) == (
            "~",
            "validation",
            user,
        )
        assert run.started_at <= record.history_date <= run.finished_at + timedelta(seconds=1)


def test_a_pin_changed_while_its_remote_was_listed_is_not_written(world: World) -> None:
    """The run judges values read before listing; a pin edited since keeps its new state."""
    release = store("1.4", four_pins(world)[:2])
    run = ValidationRun.objects.create(release=release, requested_by="t")
    claimed = service._claim([run.pk], "attempt-1")
    judged = service._gather(
        claimed,
        policy=policy_from_settings(),
        package_index=None,
        concurrency=4,
    )
    pin = RepositoryPin.objects.get(repository__name="fogpy_utils")
    pin.tag, pin.package_version = "v1.4.3", "1.4.3"
    pin.save()
    service._record(claimed, judged, "attempt-1")

    pins = {p.repository.name: p for p in RepositoryPin.objects.select_related("repository")}
    assert pins["pytroll/fogpy"].validation_state == "valid"
    assert (pins["fogpy_utils"].validation_state, pins["fogpy_utils"].validated_at) == (
        "unchecked",
        None,
    )
    run.refresh_from_db()
    assert run.results[1]["commit"] is None and run.results[1]["state"] == "unchecked"


def test_recording_results_takes_the_same_queries_for_20_and_200_pins(settings) -> None:
    # Refused URLs: every pin gets a finding (unreachable) and nothing is run.
    settings.REGISTRY_GIT_URL_TEMPLATE = "https://git.example.org/acme/{name}.git"
    settings.REGISTRY_GIT_ALLOWED_HOSTS = ["127.0.0.1"]
    counted: dict[tuple[int, str], int] = {}
    for size in (20, 200):
        pins = [Pin(f"org/repo-{i:04d}", f"v1.{i}.0", f"{i:040x}", f"1.{i}.0") for i in range(size)]
        release = store(f"9.{size}", pins)
        for moment in ("first", "steady"):
            run = ValidationRun.objects.create(release=release, requested_by="t")

            with CaptureQueriesContext(connection) as queries:
                finished = execute_run(run.pk)

            assert finished.counts["unreachable"] == size
            assert [f["code"] for f in finished.results[-1]["findings"]] == ["url-refused"]
            counted[(size, moment)] = len(queries)
    assert counted[(200, "first")] == counted[(20, "first")] <= 20, counted
    # Nothing changed: no pin rows, no history, no revision bump; only the time of the check.
    assert counted[(200, "steady")] == counted[(20, "steady")] <= 14, counted


def test_a_token_configured_for_the_host_is_in_no_row_of_a_run(
    world: World, settings, caplog: pytest.LogCaptureFixture
) -> None:
    token = "ghp_rowsMustNotShowThisToken"
    settings.REGISTRY_GIT_CREDENTIALS = {"127.0.0.1": f"x-access-token:{token}"}
    caplog.set_level(logging.DEBUG)
    pins = [
        *four_pins(world),
        Pin("org/elsewhere", "v1", None, None, url="git://127.0.0.1:1/x.git"),
    ]
    release = store("1.4", pins)

    run = validate_release_now(release, requested_by="zoë")

    assert run.counts["unreachable"] == 2 and run.counts["invalid"] == 1
    stored = [
        *ValidationRun.objects.values_list("counts", "results", "error"),
        *RepositoryPin.objects.values_list("findings", "url"),
        *RepositoryPin.history.values_list("findings", "url"),
    ]
    assert stored and not [row for row in stored if token in json.dumps(row)]
    assert not [record for record in caplog.records if token in record.getMessage()]


def test_validating_now_a_release_named_twice_or_held_by_a_live_run(
    world: World, recorded_git: RecordedGit
) -> None:
    release = store("1.4", four_pins(world)[:2])
    other = store("1.5", four_pins(world)[:2])
    holder = ValidationRun.objects.create(
        release=other,
        requested_by="schedule",
        state="running",
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        attempt="a-live-worker",
    )

    first, twice, held = service.validate_releases_now(
        [release, release, other], requested_by="zoë", policy=recorded_git.policy()
    )

    assert (first.state, first.superseded_by_id, len(first.results)) == ("done", None, 2)
    assert (twice.state, twice.superseded_by_id) == ("done", first.pk)
    assert (twice.counts, twice.results) == (first.counts, first.results)
    assert (held.state, held.superseded_by_id, held.results) == ("done", holder.pk, [])
    assert len(recorded_git.calls("ls-remote")) == 2
