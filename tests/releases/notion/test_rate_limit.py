"""One request budget for every worker; Retry-After honoured by all of them."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from releases.notion import client as notion_client
from releases.notion.client import Notion, RequestBudget

pytestmark = pytest.mark.django_db


def worker_requests(notion_server: Any, database: str, budget: RequestBudget, count: int) -> None:
    """A worker of its own (its own client and budget object), reading ``count`` times."""
    notion = Notion(notion_server.token, notion_server.url)
    notion.budget = budget
    try:
        for _ in range(count):
            notion.call("retrieve database", notion.client.databases.retrieve, database)
    finally:
        notion.close()


def run_workers(notion_server: Any, database: str, budgets: list[RequestBudget]) -> None:
    threads = [
        threading.Thread(target=worker_requests, args=(notion_server, database, b, 25))
        for b in budgets
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.redis
def test_workers_share_one_budget_through_redis(notion: Any, redis_url: str, settings: Any) -> None:
    notion.server.limit(20)
    # Three workers, each with its own connection to the budget in Redis. A little under the
    # server's limit: the network's jitter must not turn a request in time into one too early.
    budgets = [RequestBudget(18, redis_url) for _ in range(3)]
    budgets[0].limiter.clear(budgets[0].item, notion_client.BUDGET_KEY)

    run_workers(notion.server, notion.views, budgets)

    assert notion.server.count("GET", "/databases/") == 75
    assert notion.server.count("GET", "/databases/", status=429) == 0


def test_budgets_that_are_not_shared_get_refused(notion: Any) -> None:
    # What the shared budget prevents: three workers each allowed 20/s against one limit.
    notion.server.limit(20)
    budgets = [RequestBudget(20, "memory://") for _ in range(3)]

    run_workers(notion.server, notion.views, budgets)

    assert notion.server.count("GET", "/databases/", status=429) > 0
    # Each refused request was retried after its Retry-After: all 75 went through.
    assert notion.server.count("GET", "/databases/") == 75


def test_a_429_pauses_every_worker_for_its_retry_after(notion: Any) -> None:
    notion.server.fail_next(429, 1, retry_after=1)
    budgets = [RequestBudget(1000, "memory://") for _ in range(2)]
    first = Notion(notion.server.token, notion.server.url)
    first.budget = budgets[0]
    first.call("retrieve database", first.client.databases.retrieve, notion.views)
    # Another worker starts right after the 429: it waits too.
    worker_requests(notion.server, notion.views, budgets[1], 1)

    refused, retried, other = notion.server.requests
    assert refused.status == 429
    assert retried.status == other.status == 200
    assert retried.at - refused.at >= 0.95
    assert other.at - refused.at >= 0.95
