"""Celery tasks of the Notion sync: thin shells around :mod:`releases.notion.sync`."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import Task, shared_task

from .client import connect
from .sync import Outcome, SyncCutShort, backoff, due_releases, sync_release

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


# Retries of a sync cut short (the database or Redis away); the sweeper sends what is left after.
RETRIES = 5


@shared_task(
    bind=True, name="releases.notion.send_release_changes", ignore_result=True, max_retries=RETRIES
)
def send_release_changes(self: Task, release_id: int, resume: str | None = None) -> dict[str, Any]:
    """Send the queued changes of one release (nothing without ``NOTION_TOKEN``).

    A sync cut short is retried with backoff; ``resume`` is the hold on the release it could
    not give up (the database away), which the retry takes over at once."""
    notion = connect()
    if notion is None:
        return {}
    try:
        held = datetime.fromisoformat(resume) if resume else None
        return _summary(sync_release(notion, release_id, resume=held))
    except Exception as exc:
        if self.request.is_eager or self.request.called_directly:
            raise
        # The hold the sync could not give up; none if it was given up or never taken.
        resume = exc.held_until.isoformat() if isinstance(exc, SyncCutShort) else None
        retries = int(self.request.retries)
        logger.warning(
            "notion: the sync of release %s failed (retry %d of %d): %s",
            release_id,
            retries + 1,
            RETRIES,
            exc,
        )
        raise self.retry(
            args=(release_id,),
            kwargs={"resume": resume},
            countdown=backoff(retries + 1).total_seconds(),
            exc=exc,
        ) from exc
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
