"""Log records that say which request they belong to, written as one JSON object per line.

:class:`RequestIdMiddleware` takes the caller's ``X-Request-ID`` (a proxy or a pipeline sets
one) or makes one, answers with it, and keeps it for the request's thread; :class:`RequestIdFilter`
puts it on every log record (``-`` outside a request: Celery, commands); :class:`JsonFormatter`
writes each record as a JSON line that a log shipper reads without a parsing rule.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
NO_REQUEST = "-"
# A caller's id is kept when it is short and plain (a UUID, a trace id, "ci-1234-deploy");
# anything else (newlines, control characters, a page of text) is replaced by a fresh id,
# so a client cannot forge log lines or flood them.
ACCEPTED_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

_request_id: ContextVar[str] = ContextVar("request_id", default=NO_REQUEST)


def current_request_id() -> str:
    """The id of the request this thread is answering, or ``-``."""
    return _request_id.get()


class RequestIdMiddleware:
    """Give each request an id: the caller's ``X-Request-ID`` when acceptable, else a new one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(HEADER, "")
        request_id = given if ACCEPTED_ID.fullmatch(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        # Kept until the request has finished (not reset on the way out of this middleware):
        # Django logs a 4xx or 5xx answer ("Not Found: /x") after the middleware has returned.
        _request_id.set(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


def _forget_request_id(**_kwargs: object) -> None:
    _request_id.set(NO_REQUEST)


# Whatever the thread logs next (another request sets its own id) belongs to no request.
request_finished.connect(_forget_request_id, dispatch_uid="config.request_logs")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (never drops one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, RFC 3339), level, logger, process, request_id,
    message, and the traceback as ``exception`` when there is one.

    Only these keys are written: the extras Django attaches (the whole ``request``, say) are
    left out, so no header, cookie or body reaches the log by way of a record's attributes.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "request_id": getattr(record, "request_id", NO_REQUEST),
            "message": record.getMessage(),
        }
        status_code = getattr(record, "status_code", None)
        if isinstance(status_code, int):
            entry["status_code"] = status_code
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)
