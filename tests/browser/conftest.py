"""Chromium driven by Playwright against pytest-django's live server.

Debian's Chromium (``/usr/bin/chromium``; ``.ci/run`` installs it): missing, the browser tests
skip locally and fail under ``CI=true``, as the other service checks do. Each test leaves a
screenshot in ``test-artifacts/`` (ignored by git).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..conftest import service_unavailable

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
WIDTH = 1400


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        service_unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM
    # calls are still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def screenshot(page: Any, name: str) -> Path:
    """Save the whole page under test-artifacts/, and check it does not scroll sideways."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{re.sub(r'[^a-z0-9_-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= WIDTH, f"{page.url} scrolls sideways at {WIDTH} px: {width} px wide"
    return path


def log_in(page: Any, base_url: str, username: str, password: str = "pw") -> None:  # noqa: S107
    page.goto(f"{base_url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert page.locator("#user-tools").count() == 1, "still on the log-in page"


@pytest.fixture(autouse=True)
def admin_groups(transactional_db: None) -> None:
    """The groups of the data migration, made again by the migration's own code: a
    transactional test's flush removes what migrations wrote."""
    from importlib import import_module

    from django.contrib.auth.models import Group
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    if Group.objects.filter(name__in=["platform team", "viewer"]).count() == 2:
        return
    migration = import_module("releases.migrations.0007_admin_groups")
    state = MigrationLoader(connection).project_state(("releases", "0007_admin_groups"))
    migration.create_groups(state.apps, None)
