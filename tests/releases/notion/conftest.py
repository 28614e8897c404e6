"""The local Notion for every test of the sync, and fast retries."""

from typing import Any

import pytest

from releases.notion import sync

from .notion_server import notion, notion_server  # noqa: F401


@pytest.fixture(autouse=True)
def fast_retries(settings: Any) -> None:
    settings.NOTION_RETRY_BASE_SECONDS = 0.01
    settings.NOTION_BACKOFF_SECONDS = 0
    # Each test has its own server: nothing resolved for another one may be reused.
    sync._workspaces.clear()
