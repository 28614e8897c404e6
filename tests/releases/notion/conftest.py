"""The local Notion for every test of the sync, fast retries, and the worker in-process."""

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from celery import current_app
from django.core.cache import cache

from releases.notion import sync
from releases.notion.client import PAUSE_KEY

from .notion_server import notion, notion_server  # noqa: F401


@pytest.fixture(autouse=True)
def fast_retries(settings: Any) -> None:
    settings.NOTION_RETRY_BASE_SECONDS = 0.01
    settings.NOTION_BACKOFF_SECONDS = 0
    # Each test has its own server: nothing resolved for another one may be reused.
    sync._workspaces.clear()


@pytest.fixture(autouse=True)
def worker_in_process() -> Iterator[None]:
    """Tasks run when enqueued, even where REDIS_URL is set (CI): these tests play the worker.
    A pause a 429 left in a shared cache is not carried into the next test."""
    eager = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    with contextlib.suppress(Exception):  # a test may have stopped its Redis
        cache.delete(PAUSE_KEY)
    yield
    current_app.conf.task_always_eager = eager
