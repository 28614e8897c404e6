"""The shared cache while Redis is away or hangs: reads miss and fills are skipped, at the cost
of one timeout at most; invalidations fail."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from redis import RedisError
from rest_framework.test import APIClient

from config.cache import ForgivingRedisCache
from releases import revision_cache
from releases.api.models import ApiToken
from tests.hanging import HangingServer
from tests.releases.manifests import RELEASE_1_4, import_text

# Long enough for any timeout of the settings; reached only by a client that waits for ever.
FOR_EVER = 30


@pytest.fixture
def cache_without_redis() -> ForgivingRedisCache:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return ForgivingRedisCache(f"redis://127.0.0.1:{port}/0", {})


@pytest.fixture
def hanging() -> Iterator[HangingServer]:
    with HangingServer() as server:
        yield server


def test_reads_are_misses_and_fills_are_skipped(cache_without_redis: ForgivingRedisCache) -> None:
    cache = cache_without_redis
    assert cache.get("api-token:x", "default") == "default"
    assert cache.get_many(["a", "b"]) == {}
    assert not cache.has_key("a")
    assert cache.add("a", 1) is False
    cache.set("a", 1)  # nothing kept, nothing raised
    cache.fill_many({"a": 1})


def test_invalidations_still_fail(cache_without_redis: ForgivingRedisCache) -> None:
    cache = cache_without_redis
    with pytest.raises(RedisError):
        cache.set_many({"api-token:x": "forgotten"})  # a revocation must not be lost
    with pytest.raises(RedisError):
        cache.delete("a")


def test_a_redis_that_hangs_gives_misses_and_failed_invalidations(
    hanging: HangingServer,
) -> None:
    cache = ForgivingRedisCache(hanging.url, {})
    with hanging.watchdog(FOR_EVER):
        assert cache.get("api-token:x", "default") == "default"
        assert cache.get_many(["a", "b"]) == {}
        cache.set("a", 1)
        with pytest.raises(RedisError):
            cache.set_many({"api-token:x": "forgotten"})
        with pytest.raises(RedisError):
            cache.delete("a")
    assert not hanging.cut, "the cache waited for Redis until the test cut the connections"


@pytest.mark.django_db
def test_an_api_get_answers_from_the_database_while_redis_hangs(
    hanging: HangingServer, settings: Any
) -> None:
    import_text(RELEASE_1_4)
    token, key = ApiToken.create_token("dashboard", "read")
    revision_cache.clear()  # no copies anywhere: the answer must come from the database
    settings.CACHES = {
        **settings.CACHES,
        "default": {"BACKEND": "config.cache.ForgivingRedisCache", "LOCATION": hanging.url},
    }
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    with hanging.watchdog(FOR_EVER):
        answer = client.get("/api/releases/1.4/")
        # Read again: the token, the throttle and the cached representations each read or
        # fill the cache; the first that timed out makes the others misses at once.
        again = client.get("/api/releases/1.4/manifest")
        assert not hanging.cut, "the request waited for Redis until the test cut it"
        assert answer.status_code == 200, answer.content
        assert answer.json()["version"] == "1.4"
        assert again.status_code == 200, again.content
        assert again.json()["version"] == "1.4"
        # One wait for both requests: one connection, given up on its timeout.
        assert hanging.connections == 1

        # A revocation is refused rather than lost: the cache would still serve the token.
        with pytest.raises(RedisError):
            token.revoke()
    assert not hanging.cut
    assert cache.get("anything", "missed") == "missed"
