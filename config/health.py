"""``GET /healthz``: is the database reachable, and the broker?

Without a broker, tasks run in-process: fine on a laptop, a failure where the settings say
``REGISTRY_REQUIRE_BROKER`` (production).

Load balancers and uptime checks call it without credentials, so it answers plain JSON and
reveals no more than the state of each dependency.
"""

import logging

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# A health check must answer quickly even when a dependency hangs.
BROKER_TIMEOUT_SECONDS = 2.0


def _error(what: str, exc: Exception) -> str:
    # The details (hosts, ports, role names) go to the log, not to anonymous callers.
    logger.warning("health check: %s unavailable: %s", what, exc)
    return f"error: {type(exc).__name__}"


def database_state() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is a state to report, not to raise
        return _error("database", exc)
    return "ok"


def broker_state() -> str:
    """``ok``, ``eager`` (no broker; tasks run in-process) or ``error: ...``.

    Where the settings require a broker (``REGISTRY_REQUIRE_BROKER``, set in production),
    running without one is an error, not a mode.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        if settings.REGISTRY_REQUIRE_BROKER:
            logger.warning("health check: no broker, but REGISTRY_REQUIRE_BROKER is set")
            return "error: no broker configured"
        return "eager"
    # The broker Celery really sends to (base.py sets it from REDIS_URL).
    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL,
            socket_connect_timeout=BROKER_TIMEOUT_SECONDS,
            socket_timeout=BROKER_TIMEOUT_SECONDS,
        )
    except ValueError as exc:  # not a Redis URL
        return _error("broker", exc)
    try:
        client.ping()
    except Exception as exc:
        return _error("broker", exc)
    finally:
        client.close()
    return "ok"


def notion_backlog() -> dict[str, int] | str:
    """Changes waiting for Notion, by state (``pending``, ``failed``)."""
    from releases.notion.sync import backlog

    try:
        return backlog()
    except Exception as exc:
        return _error("notion backlog", exc)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    state: dict[str, object] = {"database": database_state(), "broker": broker_state()}
    if state["database"] == "ok":
        # Reported, not judged: a Notion outage must not take the registry out of rotation.
        state["notion_backlog"] = notion_backlog()
    healthy = state["database"] == "ok" and state["broker"] in {"ok", "eager"}
    return JsonResponse(state, status=200 if healthy else 503)
