"""The shared cache while Redis is away: reads miss and fills are skipped; invalidations fail."""

from __future__ import annotations

import socket

import pytest
from redis import RedisError

from config.cache import ForgivingRedisCache


@pytest.fixture
def cache_without_redis() -> ForgivingRedisCache:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return ForgivingRedisCache(f"redis://127.0.0.1:{port}/0", {})


def test_reads_are_misses_and_fills_are_skipped(cache_without_redis: ForgivingRedisCache) -> None:
    cache = cache_without_redis
    assert cache.get("api-token:x", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert not cache.has_key("a")
    assert cache.add("a", 1) is False
    cache.set("a", 1)  # nothing kept, nothing raised


def test_invalidations_still_fail(cache_without_redis: ForgivingRedisCache) -> None:
    cache = cache_without_redis
    with pytest.raises(RedisError):
        cache.set_many({"api-token:x": "forgotten"})  # a revocation must not be lost
    with pytest.raises(RedisError):
        cache.delete("a")
