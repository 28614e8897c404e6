"""The change hook's receiver: every change of a release queues its objects for Notion.

It runs inside the change's transaction (:mod:`releases.changes`), so the outbox row commits
or rolls back with the change, and asks a worker to send them once the transaction commits.
If the broker is down then, nothing is lost: the row waits for the sweeper.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from config.celery_app import publish_once

from .. import changes as change_hook
from ..changes import ReleaseChange
from ..models import RepositoryPin
from .models import RELEASE_PAGE, NotionPage
from .sync import queue_releases

logger = logging.getLogger(__name__)


@receiver(change_hook.releases_changed, dispatch_uid="notion-outbox")
def queue_for_notion(sender: Any, changes: Sequence[ReleaseChange], **kwargs: Any) -> None:
    """Queue each changed release's page and the pages of the pins its change touches (all
    of them when the release itself or its deployments changed: every pin shows them); the
    rows of every release of the batch in one statement (a validation run changes hundreds
    of releases at once)."""
    everything = [
        change.release_id for change in changes if change.release is not None or change.deployments
    ]
    shown: dict[int, set[str]] = {}
    if everything:
        for release_id, name in RepositoryPin.objects.filter(release_id__in=everything).values_list(
            "release_id", "repository__name"
        ):
            shown.setdefault(release_id, set()).add(name)
        for release_id, name in NotionPage.objects.filter(release_id__in=everything).values_list(
            "release_id", "repository"
        ):
            shown.setdefault(release_id, set()).add(name)
    queue_releases(
        [
            (
                change.release_id,
                change.version,
                {
                    RELEASE_PAGE,
                    *change.pins.created,
                    *change.pins.changed,
                    *change.pins.deleted,
                    *shown.get(change.release_id, ()),
                },
            )
            for change in changes
        ]
    )
    for change in changes:
        transaction.on_commit(partial(enqueue, change.release_id))


def enqueue(release_id: int) -> None:
    """Ask a worker to send the release's queued changes; a broker that is down only delays
    them until the sweeper's next run."""
    from .tasks import send_release_changes

    try:
        publish_once(send_release_changes, (release_id,))
    except Exception as exc:
        logger.warning(
            "notion: could not enqueue the sync of release %s (the sweeper will send it): %s",
            release_id,
            exc,
        )
