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

from .. import changes as change_hook
from ..changes import ReleaseChange
from ..models import RepositoryPin
from .models import RELEASE_PAGE, NotionPage
from .sync import queue_releases

logger = logging.getLogger(__name__)

# Seconds a save waits for the broker to take its Notion task, per attempt (two attempts).
ENQUEUE_TIMEOUT_SECONDS = 2.0


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
        if send_release_changes.app.conf.task_always_eager:
            send_release_changes.delay(release_id)
            return
        # One quick try: a save must not wait for a broker that is down (kombu's default is
        # to retry for seconds) or hangs; the sweeper sends what this could not.
        with send_release_changes.app.connection_for_write(
            transport_options={
                "socket_connect_timeout": ENQUEUE_TIMEOUT_SECONDS,
                "socket_timeout": ENQUEUE_TIMEOUT_SECONDS,
            }
        ) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
            # The stubs omit ``connection``, an option Celery passes on to the publisher.
            send_release_changes.apply_async(  # type: ignore[call-arg]
                (release_id,), connection=connection, retry=False
            )
    except Exception as exc:
        logger.warning(
            "notion: could not enqueue the sync of release %s (the sweeper will send it): %s",
            release_id,
            exc,
        )
