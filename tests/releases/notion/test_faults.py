"""Faults: Notion answering 429 and 500 in bursts, answers lost after a create, Redis down."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import current_app

from releases.models import Release, RepositoryPin
from releases.notion.models import NotionChange
from releases.notion.tasks import sweep_notion_changes
from tests.hanging import HangingServer
from tests.releases.manifests import generated_manifest, import_text

pytestmark = pytest.mark.django_db

# Long enough for any timeout of the settings; reached only by a client that waits for ever.
FOR_EVER = 30


def sweep_until_done(rounds: int = 10) -> None:
    """What the beat does every minute, until nothing is queued."""
    for _ in range(rounds):
        if not NotionChange.objects.exists():
            return
        sweep_notion_changes()
    assert not NotionChange.objects.exists(), list(NotionChange.objects.values())


def expected_pins(version: str, count: int) -> set[str]:
    return {f"{version}:repo-{i:04d}" for i in range(count)}


def test_429_and_500_bursts_end_exact_without_a_duplicate(
    notion: Any, django_capture_on_commit_callbacks: Any
) -> None:
    server = notion.server
    server.fail_next(429, 3, retry_after=1)
    server.fail_next(500, 4, after=10)
    # A create carried out whose answer is lost: the page exists, the sender does not know.
    server.fail_next(500, 1, after=15, processed=True)
    server.fail_next(429, 2, retry_after=0, after=10)
    server.fail_next(500, 2, after=5, processed=True)

    with django_capture_on_commit_callbacks(execute=True):
        import_text(generated_manifest(60, version="3.0"))
    sweep_until_done()

    pins = notion.pins()  # fails on two live pages with one key
    assert set(pins) == expected_pins("3.0", 60)
    assert len(notion.server.state.live_pages(notion.views)) == 60
    release_page = notion.releases()["3.0"]
    for name, page in pins.items():
        assert page["Tag"] == f"v1.{int(name[-4:])}.0"
        assert page["Product version"] == [release_page["id"]]
    assert server.count("POST", "/pages", status=429) >= 1
    assert server.count("POST", "/pages", status=500) >= 1

    # The same end state costs nothing more.
    server.reset_log()
    sweep_notion_changes()
    assert server.requests == []


def test_a_200_pin_manifest_writes_once_per_page_and_again_not_at_all(
    notion: Any, django_capture_on_commit_callbacks: Any
) -> None:
    text = generated_manifest(200, version="4.0")
    with django_capture_on_commit_callbacks(execute=True):
        import_text(text)
    page_writes = [r for r in notion.server.writes() if "/pages" in r.path]
    assert len(page_writes) == 201
    assert len(notion.pins()) == 200
    notion.server.reset_log()

    with django_capture_on_commit_callbacks(execute=True):
        import_text(text)

    assert notion.server.writes() == []


# --- Redis stopped while changes are saved ------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OwnRedis:
    """A redis-server of this test's own, on a free port: stopped and started at will."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def own_redis(settings: Any) -> Iterator[OwnRedis]:
    server = OwnRedis()
    server.start()
    saved = {
        key: current_app.conf[key] for key in ("broker_url", "result_backend", "task_always_eager")
    }
    settings.REDIS_URL = server.url
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": server.url,
        }
    }
    current_app.conf.update(
        broker_url=server.url, result_backend=server.url, task_always_eager=False
    )
    try:
        yield server
    finally:
        server.stop()
        current_app.conf.update(saved)


@pytest.mark.redis
def test_redis_stopped_while_saving_loses_nothing(
    notion: Any, own_redis: OwnRedis, django_capture_on_commit_callbacks: Any
) -> None:
    own_redis.stop()

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        import_text(generated_manifest(30, version="5.0"))
    with django_capture_on_commit_callbacks(execute=True):
        pin = RepositoryPin.objects.get(release__version="5.0", repository__name="repo-0003")
        pin.tag = "v9.9.9"
        pin.package_version = "9.9.9"
        pin.save()
    with django_capture_on_commit_callbacks(execute=True):
        RepositoryPin.objects.get(release__version="5.0", repository__name="repo-0007").delete()
    saving = time.monotonic() - started

    # Saved, queued, nothing sent: the sweeper cannot send either (no budget without Redis).
    assert Release.objects.get(version="5.0").pins.count() == 29
    assert NotionChange.objects.filter(release_id=pin.release_id).count() == 31
    sweep_notion_changes()
    assert notion.server.requests == []
    assert saving < 30, f"saving took {saving:.1f} s with the broker down"

    own_redis.start()
    sweep_until_done()

    pins = notion.pins()
    assert set(pins) == expected_pins("5.0", 30) - {"5.0:repo-0007"}
    assert pins["5.0:repo-0003"]["Tag"] == "v9.9.9"
    assert notion.releases()["5.0"]["Name"] == "5.0"


@pytest.mark.redis
def test_a_save_while_the_broker_hangs_completes_and_its_changes_wait(
    notion: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    saved = {key: current_app.conf[key] for key in ("broker_url", "task_always_eager")}
    # Accepts connections, answers nothing: a failover in progress, a half-open connection.
    with HangingServer() as broker:
        current_app.conf.update(broker_url=broker.url, task_always_eager=False)
        try:
            with broker.watchdog(FOR_EVER), django_capture_on_commit_callbacks(execute=True):
                import_text(generated_manifest(3, version="5.1"))
            assert not broker.cut, "the save waited for the broker until the test cut it"
        finally:
            current_app.conf.update(saved)

    # Saved and queued; the sweeper sends it.
    release = Release.objects.get(version="5.1")
    assert NotionChange.objects.filter(release_id=release.pk).count() == 4
    assert notion.server.requests == []
    sweep_until_done()
    assert set(notion.pins()) == expected_pins("5.1", 3)
