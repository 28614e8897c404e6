"""Faults of the production stack, each with the exact end state it must leave.

The Procfile's gunicorn, worker and beat run on a PostgreSQL cluster and a Redis of this
module's own (so that they can be stopped and started), with the local Notion and git
repositories served on 127.0.0.1. Beat's validation schedule is set never to fire here: the
runs are the tests' own; its Notion sweeper (every minute) re-sends what could not be sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.gitserver import SilentServer

from .conftest import Running, serve_repositories
from .pipeline import Shape, backlog_empty, deploy, hanging_pin, manifest, pin_states
from .stack import Web, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.git]

FOGPY, SATPY = "pytroll/fogpy", "pytroll/satpy"
PINS = {FOGPY: "v2.6.1", SATPY: "v0.50.0"}
# A worker killed: its message comes back after the visibility timeout (60 s) and the 10 s
# sweep; the run then takes its own time. The product promises two minutes.
REDELIVERED_WITHIN = 120


@pytest.fixture(scope="module")
def hanging_host() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


@pytest.fixture(scope="module")
def faults(
    stack_on_own_postgres: Running, repository_folder: Any, git_daemon: Any
) -> Iterator[Shape]:
    running = stack_on_own_postgres
    shape = Shape(running, serve_repositories(repository_folder, git_daemon))
    web = running.stack.start_web("web")
    web.token = running.token
    shape.webs.append(web)
    shape.workers.append(running.stack.start_worker("worker1"))
    # 1 January, midnight: the scheduled validation does not fire while the tests run.
    shape.beat = running.stack.start_beat(REGISTRY_VALIDATION_SCHEDULE="0 0 1 1 *")
    yield shape


def push(shape: Shape, version: str, **options: Any) -> None:
    pins = options.pop("pins", PINS)
    answer = shape.webs[0].api(
        "PUT",
        f"releases/{version}/manifest",
        json=manifest(shape.repositories, version, pins, **options),
    )
    assert answer.status_code == 201, answer.text


def validate(web: Web, version: str) -> int:
    answer = web.api("POST", f"releases/{version}/validate")
    assert answer.status_code == 202, answer.text
    return int(answer.json()["id"])


def run_of(web: Web, run_id: int) -> dict[str, Any]:
    answer = web.api("GET", f"validation-runs/{run_id}/")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def ended(web: Web, run_id: int) -> dict[str, Any] | None:
    """The run, once it is done or failed."""
    answer = run_of(web, run_id)
    return answer if answer["state"] in ("done", "failed") else None


def task_id(shape: Shape, run_id: int) -> str:
    return str(shape.sql("SELECT task_id FROM releases_validationrun WHERE id = %s", run_id)[0][0])


def pages_created(shape: Shape, version: str) -> Counter[str]:
    """Pages Notion made for ``version``'s pins and release, by registry key."""
    created: Counter[str] = Counter()
    for request in shape.running.notion.server.requests:
        if request.method == "POST" and request.path == "/v1/pages" and request.status == 200:
            key = request.body["properties"]["Registry key"]["rich_text"][0]["text"]["content"]
            if key == version or key.startswith(f"{version}:"):
                created[key] += 1
    return created


def assert_in_notion_once(
    shape: Shape, version: str, pins: dict[str, str], live: list[str]
) -> None:
    notion = shape.running.notion
    wait_until(lambda: backlog_empty(shape.webs[0]), 150, "the Notion outbox to empty", shape.logs)
    pages = notion.pins()  # fails on two live pages with one key
    for name, tag in pins.items():
        assert pages[f"{version}:{name}"]["Tag"] == tag
        assert sorted(pages[f"{version}:{name}"]["Live in"]) == live
    assert version in notion.releases()
    assert pages_created(shape, version) == Counter(
        [version] + [f"{version}:{name}" for name in pins]
    )


def test_a_worker_killed_mid_run_is_redelivered_and_the_run_finishes_once(
    faults: Shape, hanging_host: SilentServer
) -> None:
    stack, web = faults.running.stack, faults.webs[0]
    push(faults, "5.0", extra=(hanging_pin(hanging_host.port),))
    deploy(web, "5.0", "production", "deployed")
    connections = hanging_host.connections
    run = validate(web, "5.0")
    # In the middle: the run is running and its worker waits on the hanging host.
    wait_until(
        lambda: run_of(web, run)["state"] == "running" and hanging_host.connections > connections,
        60,
        "the run to be waiting on the hanging host",
        faults.logs,
    )
    original = task_id(faults, run)
    (killed,) = faults.workers
    killed.kill()
    assert run_of(web, run)["state"] == "running"

    # A worker again: the message the dead one held comes back to it.
    faults.workers[:] = [stack.start_worker("worker2")]
    result = wait_until(
        lambda: ended(web, run),
        REDELIVERED_WITHIN,
        "the interrupted run to finish on the new worker",
        faults.logs,
    )

    assert result["state"] == "done", result
    assert result["counts"] == {
        "valid": 2,
        "warning": 0,
        "invalid": 0,
        "unreachable": 1,
        "unchecked": 0,
    }
    assert pin_states(web, "5.0") == {FOGPY: "valid", SATPY: "valid", "acme/hangs": "unreachable"}
    # The dead worker had it; the new one carried it out: redelivered by Redis after the
    # visibility timeout, or given a new task by beat's recovery of stale runs, whichever came
    # first (the other finds the run done and leaves it).
    assert killed.output().count(f"execute_runs[{original}] received") == 1
    assert f"execute_runs[{task_id(faults, run)}] succeeded" in faults.workers[0].output()
    assert [row[0] for row in faults.sql("SELECT state FROM releases_validationrun")] == ["done"]
    assert_in_notion_once(faults, "5.0", {**PINS, "acme/hangs": "v1.0.0"}, ["production"])
    assert faults.running.notion.pins()["5.0:acme/hangs"]["Validation"] == "unreachable"


def test_a_git_host_that_hangs_ends_unreachable_within_the_git_timeout(
    faults: Shape, hanging_host: SilentServer
) -> None:
    stack, web = faults.running.stack, faults.webs[0]
    # A worker whose broker visibility timeout (3 s) is far shorter than the hang (20 s): the
    # message it holds must stay its own (it re-stamps it), not be handed out a second time.
    faults.workers.pop().stop()
    worker = stack.start_worker(
        "worker-hang", REGISTRY_BROKER_VISIBILITY_TIMEOUT="3", REGISTRY_GIT_TIMEOUT="20"
    )
    faults.workers.append(worker)
    try:
        push(
            faults,
            "5.1",
            extra=(
                hanging_pin(hanging_host.port),
                hanging_pin(hanging_host.port, "acme/hangs-too"),
            ),
        )
        push(faults, "5.2")
        slow = validate(web, "5.1")
        wait_until(
            lambda: run_of(web, slow)["state"] == "running", 30, "the run to start", faults.logs
        )
        quick = validate(web, "5.2")

        # The worker is not held: a run queued after the hanging one finishes while it waits.
        wait_until(lambda: run_of(web, quick)["state"] == "done", 30, "the second run", faults.logs)
        assert run_of(web, slow)["state"] == "running"
        result = wait_until(lambda: ended(web, slow), 20 + 20, "the hanging run", faults.logs)
    finally:
        worker.stop()
        faults.workers[:] = [stack.start_worker("worker3")]

    assert result["state"] == "done", result
    results = {pin["repository"]: pin for pin in result["results"]}
    assert {name: pin["state"] for name, pin in results.items()} == {
        FOGPY: "valid",
        SATPY: "valid",
        "acme/hangs": "unreachable",
        "acme/hangs-too": "unreachable",
    }
    for name in ("acme/hangs", "acme/hangs-too"):
        (finding,) = results[name]["findings"]
        assert "no answer within 20 seconds (REGISTRY_GIT_TIMEOUT)" in finding["message"]
    assert pin_states(web, "5.2") == {FOGPY: "valid", SATPY: "valid"}
    # Carried out once although it ran for longer than the visibility timeout.
    assert worker.output().count(f"execute_runs[{task_id(faults, slow)}] received") == 1


def test_redis_restarted_the_processes_reconnect_and_no_change_is_lost(
    faults: Shape, hanging_host: SilentServer
) -> None:
    web, redis = faults.webs[0], faults.running.redis
    worker = faults.workers[0]
    # The worker holds a task when Redis goes: a run waiting on a hanging git host.
    push(faults, "5.6", pins={FOGPY: "v2.6.1"}, extra=(hanging_pin(hanging_host.port),))
    held = validate(web, "5.6")
    wait_until(lambda: run_of(web, held)["state"] == "running", 30, "the run", faults.logs)
    redis.stop()
    try:
        status, health = web.health()
        assert status == 503 and health["broker"].startswith("error"), health

        # Written while the broker is away: kept in PostgreSQL (the release, its Notion outbox).
        push(faults, "5.3")
        deploy(web, "5.3", "staging", "deployed")
        assert pin_states(web, "5.3") == {FOGPY: "unchecked", SATPY: "unchecked"}
    finally:
        redis.start()  # the same port; empty, as a replacement server would be
    wait_until(web.healthy, 30, "the web process to see the broker again", faults.logs)
    assert_in_notion_once(faults, "5.3", PINS, ["staging"])
    # The same worker process carries out new work.
    run = validate(web, "5.3")
    wait_until(lambda: run_of(web, run)["state"] == "done", 60, "a run after", faults.logs)
    assert pin_states(web, "5.3") == {FOGPY: "valid", SATPY: "valid"}
    # The run the worker held when Redis went finished there, once.
    assert run_of(web, held)["state"] == "done"
    assert pin_states(web, "5.6") == {FOGPY: "valid", "acme/hangs": "unreachable"}
    assert worker.output().count(f"execute_runs[{task_id(faults, held)}] received") == 1
    assert faults.beat is not None
    assert worker.alive() and web.process.alive() and faults.beat.alive()
    assert f"execute_runs[{task_id(faults, run)}] succeeded" in worker.output()


def test_postgres_restarted_the_web_process_recovers_without_a_restart(faults: Shape) -> None:
    web, postgres = faults.webs[0], faults.running.postgres
    assert postgres is not None
    push(faults, "5.4")
    assert web.api("GET", "releases/5.4/").status_code == 200  # connections are open
    # Notion has it (a sync cut short by the stop would only be delayed: its retry takes its
    # hold on the release over; not what this test is about).
    wait_until(lambda: backlog_empty(web), 150, "the Notion outbox to empty", faults.logs)

    postgres.stop()
    try:
        status, health = web.health()
        assert status == 503 and health["database"].startswith("error"), health
        assert web.api("GET", "releases/5.4/").status_code >= 500
    finally:
        postgres.start()
    # Every request after the restart is answered (each gunicorn worker's stale connection is
    # found broken by CONN_HEALTH_CHECKS and replaced); the processes are the same ones.
    answers = [web.api("GET", "releases/5.4/").status_code for _ in range(12)]
    assert answers == [200] * 12
    assert web.health()[0] == 200
    deploy(web, "5.4", "production", "deployed")
    run = validate(web, "5.4")
    wait_until(lambda: run_of(web, run)["state"] == "done", 60, "a run after", faults.logs)
    assert pin_states(web, "5.4") == {FOGPY: "valid", SATPY: "valid"}
    assert faults.beat is not None
    assert web.process.alive() and faults.workers[0].alive() and faults.beat.alive()
    assert_in_notion_once(faults, "5.4", PINS, ["production"])


def test_notion_down_for_a_while_then_every_change_arrives_once(faults: Shape) -> None:
    web, server = faults.webs[0], faults.running.notion.server
    with server.lock:
        server.faults.clear()
    server.fail_next(503, 10**9)
    try:
        push(faults, "5.5")
        deploy(web, "5.5", "production", "deployed")
        deploy(web, "5.5", "staging", "retired")
        # The worker tried, was refused, and keeps the changes for later.
        wait_until(
            lambda: "notion: 5.5 not sent (attempt 1)" in faults.workers[0].output(),
            60,
            "a refused send",
            faults.logs,
        )
        assert web.health()[1]["notion_backlog"]["pending"] == 3
        assert "5.5" not in faults.running.notion.releases()
        assert any(request.status == 503 for request in server.requests)
    finally:
        with server.lock:
            server.faults.clear()

    assert_in_notion_once(faults, "5.5", PINS, ["production"])
    page = faults.running.notion.pins()[f"5.5:{FOGPY}"]
    assert page["staging status"] == "retired"
    assert page["production status"] == "deployed"
