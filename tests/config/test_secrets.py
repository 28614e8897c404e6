"""Secrets never reach Django's debug page or an error report (the admins' e-mail).

Each secret below is distinctive, so finding it anywhere in a page is a leak; the parts of the
same settings that are not secret (hosts, users, setting names) must still be shown, or the
page would be useless to whoever debugs.
"""

import logging
import sys
from collections.abc import Iterator
from types import TracebackType

import pytest
from django.core import mail
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory, override_settings
from django.urls import path
from django.utils.log import AdminEmailHandler
from django.views.debug import (
    ExceptionReporter,
    SafeExceptionReporterFilter,
    technical_500_response,
)

from config.environment import GitCredential
from config.error_reports import SecretHidingFilter

GIT_TOKEN = "ghp_GitTokenSecret0123456789abcdef"
SECRETS = {
    "REGISTRY_GIT_CREDENTIALS": {
        "github.com": GitCredential("ci-bot", GIT_TOKEN),
        "gitlab.example.org": GitCredential("deploy", "glpat-GitlabTokenSecret=42"),
    },
    "REDIS_URL": "redis://:RedisUrlSecret4711@redis.internal.example:6379/4",
    "CELERY_BROKER_URL": "redis://worker:BrokerSecret4712@broker.internal.example:6379/4",
    "CELERY_RESULT_BACKEND": "rediss://:ResultSecret@Qz4713Qz@results.internal.example:6380/5",
    "CACHES": {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": [
                "redis://:CacheSecret4714@cache-primary.internal.example:6379/1",
                "redis://:CacheSecret4715@cache-replica.internal.example:6379/1",
            ],
        }
    },
    "NOTION_TOKEN": "ntn_NotionTokenSecret4716",
    "REGISTRY_WEBHOOK_SECRET": "WebhookSecret4717",
}
# A URL that a_failing_view holds in a local variable (defined here, away from the source
# lines a debug page quotes around the failing line).
FRAME_URL = "redis://:FrameSecret4719@redis.internal.example:6379/4"
# runserver copies the process environment into request.META, so the variables show there too.
ENVIRONMENT = {
    "DATABASE_URL": "postgres://registry:DatabaseSecret4718@db.internal.example:5432/registry",
    "REDIS_URL": "redis://:RedisUrlSecret4711@redis.internal.example:6379/4",
    "REGISTRY_GIT_CREDENTIALS": f"github.com=ci-bot:{GIT_TOKEN}",
    "NOTION_TOKEN": "ntn_NotionTokenSecret4716",
}
LEAKS = (
    GIT_TOKEN,
    "GitlabTokenSecret",
    "RedisUrlSecret4711",
    "BrokerSecret4712",
    "ResultSecret",
    "Qz4713Qz",
    "CacheSecret4714",
    "CacheSecret4715",
    "NotionTokenSecret4716",
    "WebhookSecret4717",
    "DatabaseSecret4718",
    "FrameSecret4719",
)
STILL_SHOWN = (
    "redis.internal.example",
    "broker.internal.example",
    "results.internal.example:6380/5",
    "cache-replica.internal.example",
    "db.internal.example:5432/registry",
    "REGISTRY_GIT_CREDENTIALS",
    "REGISTRY_WEBHOOK_SECRET",
    "CELERY_BROKER_URL",
    "worker",  # the broker's user name
)


def assert_no_secret_in(page: str) -> None:
    leaked = [secret for secret in LEAKS if secret in page]
    assert leaked == [], f"secrets shown: {leaked}"
    missing = [shown for shown in STILL_SHOWN if shown not in page]
    assert missing == [], f"hidden although not secret: {missing}"
    assert SecretHidingFilter.cleansed_substitute in page


def a_failing_view(request: HttpRequest) -> HttpResponse:
    # A local holding a URL, as code that talks to a broker or a remote would have.
    remote = FRAME_URL
    raise RuntimeError(f"cannot reach {remote.rpartition('@')[2]}")


urlpatterns = [path("fails", a_failing_view)]


ExcInfo = tuple[type[BaseException], BaseException, TracebackType]


@pytest.fixture
def failure() -> ExcInfo:
    """The exception of a_failing_view, as a handler sees it."""
    try:
        a_failing_view(HttpRequest())
    except RuntimeError:
        exc_type, exc_value, tb = sys.exc_info()
        assert exc_type is not None and exc_value is not None and tb is not None
        return exc_type, exc_value, tb
    raise AssertionError("a_failing_view did not fail")


@pytest.fixture
def secret_settings() -> Iterator[None]:
    with override_settings(**SECRETS):
        yield


@pytest.fixture
def request_with_environment(rf: RequestFactory) -> HttpRequest:
    request: HttpRequest = rf.get("/fails")
    request.META.update(ENVIRONMENT)
    return request


@pytest.mark.usefixtures("secret_settings")
@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
def test_the_debug_page_shows_no_secret(rf: RequestFactory, failure: ExcInfo, accept: str) -> None:
    request = rf.get("/fails", HTTP_ACCEPT=accept)
    request.META.update(ENVIRONMENT)
    with override_settings(DEBUG=True):
        response = technical_500_response(request, *failure)
    assert response.status_code == 500
    assert response["Content-Type"].startswith(accept)
    assert_no_secret_in(response.content.decode())


@pytest.mark.usefixtures("secret_settings")
def test_an_error_report_shows_no_secret(
    request_with_environment: HttpRequest, failure: ExcInfo, mailoutbox: list[mail.EmailMessage]
) -> None:
    # Built exactly as Django builds it for the admins: AdminEmailHandler on "django.request".
    handler = AdminEmailHandler(include_html=True)
    logger = logging.getLogger("tests.error_report")
    logger.addHandler(handler)
    try:
        with override_settings(ADMINS=[("Ops", "ops@example.org")]):
            logger.error(
                "Internal Server Error: /fails",
                exc_info=failure,
                extra={"status_code": 500, "request": request_with_environment},
            )
    finally:
        logger.removeHandler(handler)
    [report] = mailoutbox
    assert isinstance(report, mail.EmailMultiAlternatives)
    [(html, _)] = report.alternatives
    assert_no_secret_in(str(report.body))
    assert_no_secret_in(str(html))


@pytest.mark.usefixtures("secret_settings")
def test_the_reporters_text_and_html_show_no_secret(
    request_with_environment: HttpRequest, failure: ExcInfo
) -> None:
    reporter = ExceptionReporter(request_with_environment, *failure, is_email=True)
    assert_no_secret_in(reporter.get_traceback_text())
    assert_no_secret_in(reporter.get_traceback_html())


@pytest.mark.urls(__name__)
@pytest.mark.usefixtures("secret_settings")
def test_a_failing_request_under_debug_shows_no_secret(db: None) -> None:
    # The whole path: middleware, handler, DEFAULT_EXCEPTION_REPORTER_FILTER from the settings.
    client = Client(raise_request_exception=False)
    client.defaults.update(ENVIRONMENT)  # into every request's META
    with override_settings(DEBUG=True):
        response = client.get("/fails")
    assert response.status_code == 500
    page = response.content.decode()
    assert "cannot reach redis.internal.example:6379/4" in page
    assert_no_secret_in(page)


def test_django_alone_would_show_them(
    request_with_environment: HttpRequest, failure: ExcInfo
) -> None:
    # Without the project's filter the same page leaks, so the tests above can fail.
    # Django's per-request way to choose the filter.
    request_with_environment.exception_reporter_filter = SafeExceptionReporterFilter()
    with override_settings(**SECRETS):
        page = ExceptionReporter(request_with_environment, *failure).get_traceback_html()
    assert GIT_TOKEN in page
    assert "RedisUrlSecret4711" in page
    assert "DatabaseSecret4718" in page
    assert "FrameSecret4719" in page


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("redis://:pw@host:6379/0", "redis://:********************@host:6379/0"),
        ("postgres://user:p@ss@db/x", "postgres://user:********************@db/x"),
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://github.com:443/org/repo.git@v1", "https://github.com:443/org/repo.git@v1"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        (
            "redis://:a@one:6379/0 and amqp://guest:b@two//",
            "redis://:********************@one:6379/0 and amqp://guest:********************@two//",
        ),
    ],
)
def test_only_the_password_of_a_url_is_hidden(value: str, shown: str) -> None:
    assert SecretHidingFilter().cleanse_setting("SOME_URL", value) == shown
