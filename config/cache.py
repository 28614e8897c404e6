"""The shared cache (Redis in production) used as a cache: while Redis is away (restarted,
failing over, or hanging: accepting connections and answering nothing), a read is a miss and a
fill is skipped, so requests are answered from the database instead of failing with 500 or
hanging. What invalidates (``set_many`` of the API tokens' "forgotten" marks, ``delete``,
``clear``) still fails loudly: a revocation must not be lost.

No command waits longer than ``REGISTRY_CACHE_TIMEOUT_SECONDS`` to connect or for an answer.
After a read or a fill failed, this process skips the reads and fills for ``AWAY_SECONDS``
(they are misses at once), so that a request, which reads the cache several times (its token,
the throttle, the cached representations), waits for one timeout at most; invalidations are
always tried.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache
from redis import RedisError

logger = logging.getLogger(__name__)

# Seconds reads and fills are skipped after one failed.
AWAY_SECONDS = 5.0

# When each Redis (by its servers) was last found away, for every thread of this process:
# Django gives each thread a cache object of its own.
_away_since: dict[tuple[str, ...], float] = {}
_lock = threading.Lock()


class CacheAway(RedisError):
    """Reads and fills skipped: Redis failed moments ago."""


class ForgivingRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        # Never wait for ever on a Redis that hangs (redis-py's default), even where the
        # OPTIONS of the settings' CACHES are not given.
        timeout = float(getattr(settings, "REGISTRY_CACHE_TIMEOUT_SECONDS", 1.0))
        options = {
            "socket_connect_timeout": timeout,
            "socket_timeout": timeout,
            **params.get("OPTIONS", {}),
        }
        super().__init__(server, {**params, "OPTIONS": options})
        self._key = (server,) if isinstance(server, str) else tuple(server)

    # --- Redis away --------------------------------------------------------------------

    def _check(self) -> None:
        with _lock:
            since = _away_since.get(self._key)
        if since is not None and time.monotonic() - since < AWAY_SECONDS:
            raise CacheAway(f"the cache failed {time.monotonic() - since:.1f} s ago")

    def _away(self, operation: str, error: RedisError) -> None:
        if isinstance(error, CacheAway):
            return
        with _lock:
            _away_since[self._key] = time.monotonic()
        logger.warning(
            "cache unavailable, %s skipped (and reads and fills for %.0f s): %s",
            operation,
            AWAY_SECONDS,
            error,
        )

    def _back(self) -> None:
        if self._key in _away_since:
            with _lock:
                _away_since.pop(self._key, None)

    # --- reads: misses while Redis is away ------------------------------------------------

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            self._check()
            found = super().get(key, default, version)
        except RedisError as error:
            self._away("get", error)
            return default
        self._back()
        return found

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            self._check()
            found = super().get_many(keys, version)
        except RedisError as error:
            self._away("get_many", error)
            return {}
        self._back()
        return found

    def has_key(self, key: Any, version: int | None = None) -> bool:
        try:
            self._check()
            found = bool(super().has_key(key, version))
        except RedisError as error:
            self._away("has_key", error)
            return False
        self._back()
        return found

    # --- fills: skipped while Redis is away ---------------------------------------------

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        try:
            self._check()
            added = bool(super().add(key, value, timeout, version))
        except RedisError as error:
            self._away("add", error)
            return False
        self._back()
        return added

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        try:
            self._check()
            super().set(key, value, timeout, version)
        except RedisError as error:
            self._away("set", error)
            return
        self._back()

    def fill_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        """``set_many`` as a fill (skipped while Redis is away); ``set_many`` itself
        invalidates (the tokens' "forgotten" marks) and fails loudly."""
        try:
            self._check()
            super().set_many(data, timeout, version)
        except RedisError as error:
            self._away("fill_many", error)
            return
        self._back()
