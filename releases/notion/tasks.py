"""Celery tasks of the Notion sync: thin shells around :mod:`releases.notion.sync`."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from .client import connect
from .sync import Outcome, due_releases, sync_release

logger = logging.getLogger(__name__)


def _summary(outcome: Outcome) -> dict[str, Any]:
    return {
        "created": outcome.created,
        "updated": outcome.updated,
        "trashed": outcome.trashed,
        "unchanged": outcome.unchanged,
        "failed": len(outcome.failed),
        "busy": outcome.busy,
    }


@shared_task(name="releases.notion.send_release_changes", ignore_result=True)
def send_release_changes(release_id: int) -> dict[str, Any]:
    """Send the queued changes of one release (nothing without ``NOTION_TOKEN``)."""
    notion = connect()
    if notion is None:
        return {}
    try:
        return _summary(sync_release(notion, release_id))
    finally:
        notion.close()


@shared_task(name="releases.notion.sweep")
def sweep_notion_changes() -> dict[str, Any]:
    """Send every change that is due: pending ones whose task never ran (broker down, worker
    killed) and failed ones whose backoff is over."""
    notion = connect()
    if notion is None:
        return {}
    outcome = Outcome()
    try:
        for release_id in due_releases():
            outcome.add(sync_release(notion, release_id))
    finally:
        notion.close()
    if outcome.failed:
        logger.warning("notion: sweep left %d changes failing", len(outcome.failed))
    return _summary(outcome)
