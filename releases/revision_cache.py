"""Two cache layers for values whose key is exact: this process's memory, then the shared cache.

For what the API keeps under a release's identity and revision (a rendered manifest, a list
entry): every change bumps the revision through the change hook (:mod:`releases.changes`), so a
key never names two different values and a copy kept in a worker's memory can never be stale.
The memory layer is Django's ``local`` cache (a bounded ``LocMemCache``, one per process; see
the settings); the shared one, the ``default`` cache (Redis in production), fills a new worker
without rebuilding. Not for anything whose key does not change with the value.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.base import BaseCache
from redis import RedisError

LOCAL = "local"
logger = logging.getLogger(__name__)


def _local() -> BaseCache | None:
    return caches[LOCAL] if LOCAL in settings.CACHES else None


def get(key: str) -> Any:
    """The value under ``key``, or ``None``."""
    local = _local()
    if local is not None:
        value = local.get(key)
        if value is not None:
            return value
    value = cache.get(key)
    if value is not None and local is not None:
        local.set(key, value, None)
    return value


def get_many(keys: list[str]) -> dict[str, Any]:
    """The values found under ``keys``: one shared-cache round trip for those not in memory."""
    local = _local()
    found: dict[str, Any] = local.get_many(keys) if local is not None else {}
    missing = [key for key in keys if key not in found]
    if missing:
        shared = cache.get_many(missing)
        if shared and local is not None:
            local.set_many(shared, None)
        found.update(shared)
    return found


def set_many(values: dict[str, Any], timeout: float) -> None:
    """Keep ``values`` in both layers (``timeout`` seconds in the shared one; the memory layer
    forgets the least recently used when full)."""
    if not values:
        return
    # A fill, not an invalidation: skipped while Redis is away (config.cache).
    fill = getattr(cache, "fill_many", None)
    try:
        if fill is not None:
            fill(values, timeout)
        else:
            cache.set_many(values, timeout)
    except RedisError as error:  # Redis away: kept in this process's memory only
        logger.warning("shared cache unavailable, %d values kept locally: %s", len(values), error)
    local = _local()
    if local is not None:
        local.set_many(values, None)


def get_local(key: str) -> Any:
    """The value under ``key`` in this process's memory only (``None``: not there)."""
    local = _local()
    return local.get(key) if local is not None else None


def set_local(key: str, value: Any) -> None:
    """Keep ``value`` in this process's memory only: for what is cheap to assemble again from
    values kept in both layers."""
    local = _local()
    if local is not None:
        local.set(key, value, None)


def clear() -> None:
    """Empty both layers (tests)."""
    cache.clear()
    local = _local()
    if local is not None:
        local.clear()
