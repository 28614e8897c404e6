"""The Procfile's stack end to end, then scaled out to two web and two worker processes.

gunicorn, a Celery worker and beat run as the Procfile says, under production settings, on a
new database of the PostgreSQL server of DATABASE_URL and a Redis of their own. A pipeline
pushes manifests and records deployments through the API with a token; beat's schedule (every
minute here) validates the live releases against git repositories served on 127.0.0.1; the
worker sends every change to the local Notion. Production's promotion policy (staging first)
refuses, through gunicorn, a deployment that skipped staging, and the pipeline's gate says
why. At the end the API, the admin and Notion say the same thing.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import ADMIN_PASSWORD, Running, serve_repositories
from .pipeline import NOT_SERVED, Shape, backlog_empty, deploy, manifest, pin_states
from .stack import all_output, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.slow, pytest.mark.git]


@pytest.fixture(scope="module")
def shape(
    stack_on_shared_postgres: Running, repository_folder: Any, git_daemon: Any
) -> Iterator[Shape]:
    running = stack_on_shared_postgres
    world = Shape(running, serve_repositories(repository_folder, git_daemon))
    web = running.stack.start_web("web1")
    web.token = running.token
    world.webs.append(web)
    world.workers.append(running.stack.start_worker("worker1"))
    running.stack.start_beat()
    yield world


def test_the_procfile_stack_end_to_end(shape: Shape) -> None:
    web, repositories, notion = shape.webs[0], shape.repositories, shape.running.notion
    fogpy, satpy, p2g = "pytroll/fogpy", "pytroll/satpy", "ssec/polar2grid"

    # The pipeline: 1.4 as YAML to the manifest URL, 1.5 as JSON to the list, 1.3 never live.
    yaml_body = json.dumps(
        manifest(repositories, "1.4", {fogpy: "v2.6.1", satpy: "v0.50.0", p2g: "v3.0.0"})
    )  # JSON is YAML
    answer = web.api(
        "PUT",
        "releases/1.4/manifest",
        data=yaml_body.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert answer.status_code == 201, answer.text
    answer = web.api(
        "POST",
        "releases/",
        json=manifest(
            repositories,
            "1.5",
            {fogpy: "v2.7.0", satpy: "v0.51.0", p2g: "v3.1.0"},
            wrong=(satpy,),
            unreachable=True,
        ),
    )
    assert answer.status_code == 201, answer.text
    answer = web.api(
        "PUT",
        "releases/1.3/manifest",
        json=manifest(repositories, "1.3", {fogpy: "v2.6.0"}),
    )
    assert answer.status_code == 201, answer.text
    deploy(web, "1.4", "production", "deployed")

    # Production's promotion policy, set by the platform team: staging first.
    shape.running.stack.manage(
        "shell",
        "-c",
        "from registry.models import Environment\n"
        "from releases.promotion.models import PromotionPolicy\n"
        "policy = PromotionPolicy.objects.create(\n"
        "    environment=Environment.objects.get(name='production'),\n"
        "    require_valid_pins=False, unreachable_blocks=False)\n"
        "policy.upstream.add(Environment.objects.get_or_create(name='staging')[0])\n",
    )
    # The pipeline's gate says no, and a deployment that skips staging is refused, unwritten.
    gate = web.api("GET", "releases/1.5/promotion/production")
    assert gate.status_code == 200, gate.text
    assert gate.json()["allowed"] is False
    assert [r["rule"] for r in gate.json()["rules"] if not r["ok"]] == ["upstream"]
    refused = web.api(
        "PUT",
        "releases/1.5/deployments/production/",
        json={
            "namespace": "prod-v1.5",
            "deployed_at": "2025-01-20T14:30:00Z",
            "status": "in_progress",
        },
    )
    assert refused.status_code == 409, refused.text
    assert [r["rule"] for r in refused.json()["rules"] if not r["ok"]] == ["upstream"]
    listed = web.api("GET", "releases/1.5/deployments/").json()
    listed = listed["results"] if isinstance(listed, dict) else listed
    assert [entry["environment"] for entry in listed] == []
    deploy(web, "1.5", "staging", "deployed")
    assert web.api("GET", "releases/1.5/promotion/production").json()["allowed"] is True
    deploy(web, "1.5", "production", "in_progress")

    # Beat's schedule validates the live releases (1.4 and 1.5), not 1.3.
    expected = {
        "1.4": {fogpy: "valid", satpy: "valid", p2g: "valid"},
        "1.5": {fogpy: "valid", satpy: "invalid", p2g: "valid", NOT_SERVED: "unreachable"},
        "1.3": {fogpy: "unchecked"},
    }
    wait_until(
        lambda: (
            pin_states(web, "1.4") == expected["1.4"] and pin_states(web, "1.5") == expected["1.5"]
        ),
        150,
        "the scheduled validation of 1.4 and 1.5",
        shape.logs,
    )
    assert pin_states(web, "1.3") == expected["1.3"]
    runs = shape.sql(
        "SELECT r.version, v.state, v.requested_by FROM releases_validationrun v "
        "JOIN releases_release r ON r.id = v.release_id ORDER BY r.version"
    )
    # Only the live releases, each run done (a run the next minute queued may still be going).
    assert {version for version, _, _ in runs} == {"1.4", "1.5"}, runs
    assert {state for _, state, _ in runs} - {"queued", "running"} == {"done"}, runs

    # The API's other views agree.
    answer = web.api("GET", "environments/production/")
    assert sorted((r["version"], r["status"]) for r in answer.json()["releases"]) == [
        ("1.4", "deployed"),
        ("1.5", "in_progress"),
    ]
    history = web.api("GET", "releases/1.5/history/").json()
    entries = history["results"] if isinstance(history, dict) else history
    assert {entry["token"] for entry in entries} == {"pipeline"}
    assert (
        Counter((e["kind"], e["name"], e["action"]) for e in entries)[
            ("deployment", "staging", "created")
        ]
        == 1
    )

    # Notion: once the outbox is empty, one page per pin and per release, as the API says.
    wait_until(lambda: backlog_empty(web), 60, "the Notion outbox to empty", shape.logs)
    pages = notion.pins()
    assert {key: page["Validation"] for key, page in pages.items()} == {
        f"{version}:{name}": state.replace("unchecked", "not checked")
        for version, states in expected.items()
        for name, state in states.items()
    }
    assert sorted(pages["1.5:pytroll/satpy"]["Live in"]) == ["production", "staging"]
    assert pages["1.5:pytroll/satpy"]["production status"] == "in progress"
    assert pages["1.4:ssec/polar2grid"]["Live in"] == ["production"]
    assert pages["1.3:pytroll/fogpy"]["Live in"] == []
    assert set(notion.releases()) == {"1.3", "1.4", "1.5"}
    created = notion.server.count("POST", "/v1/pages")
    assert created == len(pages) + 3, "a page created twice"

    # The admin, logged in, shows the same releases and states.
    web.log_in("admin", ADMIN_PASSWORD)
    listing = web.page("/admin/releases/release/")
    for version in ("1.3", "1.4", "1.5"):
        assert f">{version}<" in listing, listing[:3000]
    (release_id,) = shape.sql("SELECT id FROM releases_release WHERE version = '1.5'")[0]
    page = web.page(f"/admin/releases/release/{release_id}/change/")
    for name in expected["1.5"]:
        assert name in page
    for state in ("invalid", "unreachable", "valid"):
        assert re.search(rf"\b{state}\b", page, re.IGNORECASE), state

    # Nothing failed in any process.
    output = all_output(shape.running.stack.processes)
    assert "Traceback" not in output, shape.logs()


def test_two_web_and_two_worker_processes_share_the_work_and_do_nothing_twice(
    shape: Shape,
) -> None:
    stack, repositories, notion = shape.running.stack, shape.repositories, shape.running.notion
    if len(shape.webs) < 2:
        web = stack.start_web("web2")
        web.token = shape.running.token
        shape.webs.append(web)
        shape.workers.append(stack.start_worker("worker2"))
    webs = shape.webs
    versions = [f"2.{minor}" for minor in range(8)]
    pins = {"pytroll/fogpy": "v2.7.0", "pytroll/satpy": "v0.51.0", "ssec/polar2grid": "v3.1.0"}

    # Pipelines spread over both web processes: manifests, a deployment, a validation each.
    for number, version in enumerate(versions):
        web = webs[number % 2]
        answer = web.api(
            "PUT", f"releases/{version}/manifest", json=manifest(repositories, version, pins)
        )
        assert answer.status_code == 201, answer.text
        deploy(webs[(number + 1) % 2], version, "qa", "deployed")
    queued = []
    for number, version in enumerate(versions):
        answer = webs[number % 2].api("POST", f"releases/{version}/validate")
        assert answer.status_code == 202, answer.text
        queued.append(answer.json()["id"])

    def finished() -> bool:
        return all(
            webs[0].api("GET", f"validation-runs/{run}/").json()["state"] == "done"
            for run in queued
        )

    wait_until(finished, 120, "the eight validation runs", shape.logs)
    for version in versions:
        assert set(pin_states(webs[1], version).values()) == {"valid"}

    # Each run's task was received once, by one worker; both workers took some.
    task_ids = dict(
        shape.sql(
            "SELECT v.id, v.task_id FROM releases_validationrun v "
            "JOIN releases_release r ON r.id = v.release_id WHERE r.version LIKE '2.%%'"
        )
    )
    assert set(queued) <= set(task_ids)
    received = Counter(
        match.group(1)
        for worker in shape.workers
        for match in re.finditer(
            r"Task releases\.validation\.execute_runs\[([^\]]+)\] received", worker.output()
        )
    )
    # The runs asked for, once each; beat's runs of these live releases at most once so far.
    assert all(received[task_ids[run]] == 1 for run in queued), (task_ids, received)
    assert all(received[task] <= 1 for task in task_ids.values()), (task_ids, received)
    by_worker = [
        {
            task_ids[run]
            for run in queued
            if f"execute_runs[{task_ids[run]}] received" in worker.output()
        }
        for worker in shape.workers
    ]
    assert all(by_worker) and not set.intersection(*by_worker), by_worker

    # Notion: every page made once; every history record written once.
    wait_until(lambda: backlog_empty(webs[1]), 60, "the Notion outbox to empty", shape.logs)
    pages = notion.pins()  # fails on two live pages with one key
    for version in versions:
        for name in pins:
            assert pages[f"{version}:{name}"]["Validation"] == "valid"
            assert pages[f"{version}:{name}"]["Live in"] == ["qa"]
    assert notion.server.count("POST", "/v1/pages") == len(pages) + len(notion.releases())
    for version in versions:
        history = webs[0].api("GET", f"releases/{version}/history/").json()
        entries = history["results"] if isinstance(history, dict) else history
        written = Counter((e["kind"], e["name"], e["action"]) for e in entries)
        assert written == Counter(
            [("release", version, "created"), ("deployment", "qa", "created")]
            + [("pin", name, "created") for name in pins]
        ), written
    assert "Traceback" not in all_output(stack.processes), shape.logs()
