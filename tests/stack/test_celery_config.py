"""Celery's configuration for the stack: redelivery after a lost worker, and a lost broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kombu import Connection
from kombu.common import ignore_errors

from config.celery_app import KeepTakenMessagesHidden, _connparams, app

from .conftest import require_redis_server
from .stack import OwnRedis

pytestmark = [pytest.mark.stack]


def test_late_acknowledgement_with_a_visibility_timeout_of_a_minute() -> None:
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    # A dead worker's message is back within 60 s + one 10 s sweep (kombu: an hour, 100 s);
    # a broker that hangs fails a command after 5 s (kombu: never).
    assert conf.broker_transport_options == {
        "visibility_timeout": 60,
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        "socket_connect_timeout": 5,
        "socket_timeout": 5,
    }
    # And the result backend after 5 s too (Celery: 120 s).
    assert (conf.redis_socket_connect_timeout, conf.redis_socket_timeout) == (5, 5)
    assert KeepTakenMessagesHidden in app.steps["consumer"]


@pytest.fixture
def broker() -> Iterator[OwnRedis]:
    require_redis_server()
    server = OwnRedis()
    server.start()
    yield server
    server.stop()


def test_a_channel_of_a_collected_connection_fails_as_a_connection_error(
    broker: OwnRedis,
) -> None:
    connection = Connection(broker.url)
    channel = connection.default_channel
    qos = channel.qos  # type: ignore[attr-defined]
    qos._delivered["a-delivery-tag"] = object()
    connection.transport.client = None  # what Celery 5.7's collect() leaves behind

    with pytest.raises(AttributeError):  # kombu's own: the worker's "Unrecoverable error"
        _connparams(channel)
    # Celery's handlers of a lost connection (closing it, acknowledging late) take these.
    with pytest.raises(connection.connection_errors):
        qos.restore_unacked()
    with pytest.raises(connection.connection_errors):
        qos.ack("a-delivery-tag")
    ignore_errors(connection, connection.close)
