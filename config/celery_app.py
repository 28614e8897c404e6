"""The Celery application; settings come from Django's, under the ``CELERY_`` prefix.

Tasks are acknowledged late (``CELERY_TASK_ACKS_LATE``): a message a worker has taken stays in
Redis's "unacked" set until its task ends, and comes back to the queue when the broker thinks
its worker is gone, which Redis can only tell by time: the message's score in the unacked index
older than the visibility timeout (``REGISTRY_BROKER_VISIBILITY_TIMEOUT``, one minute here,
an hour in kombu by default). A short timeout alone would hand a task that runs longer than it
(a validation run may take minutes) to a second worker while the first still runs it;
:class:`KeepTakenMessagesHidden` prevents that: a live worker keeps re-stamping the messages it
holds, so only the messages of a worker that died (SIGKILL, lost machine) come back, within
about a minute.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery import Celery, bootsteps
from celery.signals import setup_logging
from celery.worker import state as worker_state
from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

logger = logging.getLogger(__name__)

app = Celery("release_registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds ``tasks.py`` in every installed app.
app.autodiscover_tasks()


class KeepTakenMessagesHidden(bootsteps.StartStopStep):
    """Re-stamp, every quarter of the visibility timeout, the unacked messages this worker
    holds (running or prefetched), so that Redis hands them to no other worker while this one
    lives. Runs in the worker's event loop (the prefork pool of the Procfile; a ``--pool=solo``
    worker is busy while a task runs, and then relies on the timeout alone)."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.timer: Any = None

    def start(self, consumer: Any) -> None:
        options = consumer.app.conf.broker_transport_options or {}
        timeout = float(options.get("visibility_timeout") or 0)
        if timeout and consumer.timer is not None:
            self.timer = consumer.timer.call_repeatedly(
                max(1.0, timeout / 4), self.stamp, (consumer,), priority=10
            )

    def stop(self, consumer: Any) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def stamp(self, consumer: Any) -> None:
        channel = getattr(consumer.task_consumer, "channel", None)
        qos = getattr(channel, "qos", None)
        index = getattr(qos, "unacked_index_key", None)
        if channel is None or index is None:  # not the Redis transport
            return
        tags = {
            request.message.delivery_tag
            for request in list(worker_state.reserved_requests)
            if request.message is not None
        }
        if not tags:
            return
        now = time.time()
        try:
            with channel.conn_or_acquire() as client:
                # XX: only messages still unacked; one acknowledged meanwhile stays gone.
                client.zadd(index, dict.fromkeys(tags, now), xx=True)
        except Exception:  # the broker away: the consumer reconnects, the next stamp follows
            logger.debug("could not re-stamp %d unacked messages", len(tags), exc_info=True)


app.steps["consumer"].add(KeepTakenMessagesHidden)


# Seconds a request waits for the broker to take a task, per attempt (two attempts).
PUBLISH_TIMEOUT_SECONDS = 2.0


def publish_once(task: Any, args: tuple[Any, ...], **options: Any) -> None:
    """Send ``task`` with one quick try, or raise: for a request or a save that must not
    wait for a broker that is down (kombu's default is to retry for seconds) or hangs,
    because something else sends the task later (a sweeper, the stale run recovery). Run
    at once when tasks run in-process (``task_always_eager``)."""
    if task.app.conf.task_always_eager:
        task.apply_async(args, **options)
        return
    with task.app.connection_for_write(
        transport_options={
            "socket_connect_timeout": PUBLISH_TIMEOUT_SECONDS,
            "socket_timeout": PUBLISH_TIMEOUT_SECONDS,
        }
    ) as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
        task.apply_async(args, connection=connection, retry=False, **options)


_connparams = kombu_redis.Channel._connparams  # type: ignore[attr-defined]


def _connparams_of_an_open_connection(self: Any, asynchronous: bool = False) -> Any:
    """Celery 5.7, on losing the broker, collects the connection and then closes it; closing a
    channel puts back the messages the worker holds, and a task that ends after the reconnection
    acknowledges its message, both on the old channel whose connection is gone. kombu then
    raises AttributeError, which stops the worker ("Unrecoverable error"). As a connection
    error, Celery logs it and goes on; the messages stay in Redis's unacked set and come back
    after the visibility timeout (tasks are idempotent)."""
    if self.connection is None or self.connection.client is None:
        raise RedisConnectionError("the broker connection of this channel is closed")
    return _connparams(self, asynchronous=asynchronous)


kombu_redis.Channel._connparams = _connparams_of_an_open_connection  # type: ignore[attr-defined]


@setup_logging.connect
def log_as_django_does(**_kwargs: Any) -> None:
    """Workers and beat log through Django's LOGGING (JSON lines with a request id in
    production) rather than in Celery's own format; the level is DJANGO_LOG_LEVEL."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
