"""Notion through ``notion-client``, within one request budget shared by every worker.

Every request (each attempt of it) first takes a slot of ``NOTION_REQUESTS_PER_SECOND`` from a
moving window kept by the ``limits`` library: in Redis when ``REDIS_URL`` is set (so the whole
fleet shares one budget), in this process's memory otherwise. A ``429`` stops every worker for
its ``Retry-After``; a ``5xx``, a timeout or a dropped connection is retried with exponential
backoff. ``notion-client``'s own retries are off so that each attempt passes the budget.

A page create is not repeated blindly after a failure that may have reached Notion: the sync
looks the page up by its ``Registry key`` first (:mod:`releases.notion.sync`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from notion_client import APIErrorCode, APIResponseError, Client
from notion_client.errors import HTTPResponseError, RequestTimeoutError

logger = logging.getLogger(__name__)

# Attempts of one request before its error reaches the sync (which then backs off the row).
ATTEMPTS = 5
PAUSE_KEY = "notion:paused-until"
BUDGET_KEY = "notion-requests"
TIMEOUT_MS = 30_000


class NotionUnavailable(Exception):
    """Notion (or the budget's store) could not be reached after the retries: try later."""


class NotionRefused(Exception):
    """Notion refused the request (validation, permission, not found): resending the same
    payload will not help until something changes."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code


class RequestBudget:
    """``rate`` requests per second across every process sharing ``storage_url``."""

    def __init__(self, rate: float, storage_url: str) -> None:
        # The limits library counts whole requests in whole seconds: 0.5/s is 1 per 2 s.
        if rate >= 1:
            self.item = RateLimitItemPerSecond(math.floor(rate), 1)
        else:
            self.item = RateLimitItemPerSecond(1, math.ceil(1 / rate))
        options: dict[str, float | str | bool] = {}
        if not storage_url.startswith("memory://"):
            # A Redis that hangs fails the request (the change is retried later) instead of
            # holding the worker: the cache's timeouts.
            timeout = float(settings.REGISTRY_CACHE_TIMEOUT_SECONDS)
            options = {"socket_connect_timeout": timeout, "socket_timeout": timeout}
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_url, **options))

    def take(self) -> None:
        """Wait for a slot (and for any pause a 429 asked for)."""
        while True:
            paused = paused_for()
            if paused > 0:
                time.sleep(paused)
                continue
            if self.limiter.hit(self.item, BUDGET_KEY):
                return
            reset = self.limiter.get_window_stats(self.item, BUDGET_KEY).reset_time
            time.sleep(min(1.0, max(0.002, reset - time.time())))


_budgets: dict[tuple[float, str], RequestBudget] = {}
_budgets_lock = threading.Lock()


def budget() -> RequestBudget:
    """The budget of these settings (one per process: threads share the in-memory one)."""
    storage = settings.REDIS_URL or "memory://"
    key = (float(settings.NOTION_REQUESTS_PER_SECOND), storage)
    with _budgets_lock:
        if key not in _budgets:
            _budgets[key] = RequestBudget(key[0], storage)
        return _budgets[key]


def paused_for() -> float:
    """Seconds left of the pause the last 429 asked for (0 without one)."""
    try:
        until = cache.get(PAUSE_KEY)
    except Exception:  # the cache is Redis; the budget itself reports Redis being down
        return 0.0
    return max(0.0, float(until) - time.time()) if until else 0.0


def pause(seconds: float) -> None:
    """Make every worker wait ``seconds`` before its next request."""
    try:
        cache.set(PAUSE_KEY, time.time() + seconds, timeout=math.ceil(seconds) + 1)
    except Exception as exc:
        logger.warning("notion: could not share a rate-limit pause: %s", exc)


def retry_delay(attempt: int) -> float:
    """Exponential backoff between attempts of one request."""
    base: float = settings.NOTION_RETRY_BASE_SECONDS
    return float(base * 2**attempt)


class Notion:
    """The calls the sync makes, each within the budget, retried when worth it."""

    def __init__(self, token: str, base_url: str) -> None:
        self.client = Client(
            auth=token,
            base_url=base_url.rstrip("/"),
            retry=False,
            timeout_ms=TIMEOUT_MS,
            logger=logging.getLogger("notion_client"),
        )
        self.budget = budget()
        self.requests = 0
        # Called before each attempt of a request, once the budget let it go (the sync renews
        # its hold on the release there).
        self.before_request: Callable[[], None] | None = None

    @contextlib.contextmanager
    def before_each_request(self, hook: Callable[[], None]) -> Iterator[None]:
        """Call ``hook`` before each attempt of each request made inside the block; what it
        raises ends the request unsent."""
        previous, self.before_request = self.before_request, hook
        try:
            yield
        finally:
            self.before_request = previous

    def close(self) -> None:
        self.client.close()

    def call(
        self, what: str, function: Callable[..., Any], *args: Any, retry: bool = True, **kwargs: Any
    ) -> Any:
        """``function(*args, **kwargs)`` within the budget. ``retry=False`` gives up at the
        first error that may have reached Notion (a create is looked up before it is tried
        again)."""
        attempt = 0
        while True:
            try:
                self.budget.take()
            except Exception as exc:  # the budget's Redis is down
                raise NotionUnavailable(f"request budget unavailable: {exc}") from exc
            if self.before_request is not None:
                self.before_request()
            self.requests += 1
            try:
                return function(*args, **kwargs)
            except APIResponseError as exc:
                if exc.code == APIErrorCode.RateLimited:
                    wait = _retry_after(exc) or retry_delay(attempt)
                    pause(wait)
                    error: Exception = exc
                    reached = False
                elif exc.status >= 500:
                    wait, error, reached = retry_delay(attempt), exc, True
                else:
                    code = getattr(exc.code, "value", exc.code)
                    raise NotionRefused(exc.status, str(code), str(exc)) from exc
            except HTTPResponseError as exc:  # a body that is not Notion's error shape
                if exc.status < 500 and exc.status != 429:
                    raise NotionRefused(exc.status, "http_error", str(exc)) from exc
                wait, error, reached = retry_delay(attempt), exc, exc.status != 429
            except (RequestTimeoutError, httpx.TransportError) as exc:
                wait, error, reached = retry_delay(attempt), exc, True
            attempt += 1
            logger.info("notion: %s failed (attempt %d): %s", what, attempt, error)
            if attempt >= ATTEMPTS or (reached and not retry):
                raise NotionUnavailable(f"{what}: {error}") from error
            time.sleep(wait)


def _retry_after(exc: APIResponseError) -> float | None:
    value = exc.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def connect() -> Notion | None:
    """A client from the settings; ``None`` when the sync is off (no token or database)."""
    if not settings.NOTION_TOKEN or not settings.NOTION_RELEASE_VIEWS_DATABASE_ID:
        return None
    return Notion(settings.NOTION_TOKEN, settings.NOTION_BASE_URL)
