"""API clients authenticated by real tokens (made by the service the command uses)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rest_framework.test import APIClient

from releases import revision_cache
from releases.api.models import ApiToken


def token_client(name: str, scope: str) -> APIClient:
    _token, key = ApiToken.create_token(name, scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture(autouse=True)
def fresh_throttle_counts() -> Iterator[None]:
    # The throttle counts requests in the cache, which outlives a test's database (as do the
    # API's cached reads, in this process's memory too).
    revision_cache.clear()
    yield
    revision_cache.clear()


@pytest.fixture
def writer(db: None) -> APIClient:
    return token_client("iac-pipeline", "write")


@pytest.fixture
def reader(db: None) -> APIClient:
    return token_client("dashboard", "read")


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()
