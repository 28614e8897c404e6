"""Request ids: taken from X-Request-ID or made, answered, and on every log record."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from config.request_logs import JsonFormatter, RequestIdFilter

from .project import settings_of


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the root logger writes, through the filter and formatter of the settings."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_given_request_id_is_answered_and_logged(
    client: Client, db: None, json_log: io.StringIO
) -> None:
    response = client.get("/api/releases/", HTTP_X_REQUEST_ID="deploy-prod-1.4-7")
    assert response.status_code == 401
    assert response["X-Request-ID"] == "deploy-prod-1.4-7"
    logging.getLogger("releases").warning("after the request")
    (during, after) = records(json_log)
    assert during["request_id"] == "deploy-prod-1.4-7"
    assert during["message"] == "Unauthorized: /api/releases/"
    assert during["status_code"] == 401
    assert during["level"] == "WARNING"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(during["time"]))
    # Outside a request (a command, a task): "-".
    assert after["request_id"] == "-"
    assert after["logger"] == "releases"


@pytest.mark.parametrize("given", ["", "two words", "line\\nbreak", "é", "x" * 129])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(
    client: Client, db: None, json_log: io.StringIO, given: str
) -> None:
    response = client.get("/api/releases/", HTTP_X_REQUEST_ID=given)
    made = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert [record["request_id"] for record in records(json_log)] == [made]


def test_an_exception_is_one_json_record_with_its_traceback(json_log: io.StringIO) -> None:
    try:
        raise ValueError("broken pin")
    except ValueError:
        logging.getLogger("releases").exception("import failed")
    (record,) = records(json_log)
    assert record["message"] == "import failed"
    assert "ValueError: broken pin" in str(record["exception"])


def test_the_settings_put_the_request_id_on_every_record() -> None:
    assert settings.MIDDLEWARE[0] == "config.request_logs.RequestIdMiddleware"
    logging_config: dict[str, Any] = settings.LOGGING
    assert logging_config["handlers"]["stderr"]["filters"] == ["request_id"]
    assert "request_id=%(request_id)s" in logging_config["formatters"]["line"]["format"]


def test_production_logs_json_and_the_laptop_key_value_lines() -> None:
    production = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DATABASE_URL": "postgres://registry@127.0.0.1:5432/rr_prod",
        "REDIS_URL": "redis://127.0.0.1:6379/4",
        "DJANGO_SECRET_KEY": "k" * 50,
        "DJANGO_ALLOWED_HOSTS": "registry.example.org",
    }
    shown = settings_of(["LOGGING"], production)["LOGGING"]
    assert shown["handlers"]["stderr"]["formatter"] == "json"  # type: ignore[index]
    shown = settings_of(["LOGGING"], {**production, "DJANGO_LOG_FORMAT": "line"})["LOGGING"]
    assert shown["handlers"]["stderr"]["formatter"] == "line"  # type: ignore[index]
    shown = settings_of(["LOGGING"], {"DJANGO_SETTINGS_MODULE": "config.settings.local"})["LOGGING"]
    assert shown["handlers"]["stderr"]["formatter"] == "line"  # type: ignore[index]
