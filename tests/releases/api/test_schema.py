"""The OpenAPI schema describes every endpoint, and the API keeps to it (schemathesis)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from rest_framework.test import APIClient
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from releases.api.models import ApiToken
from tests.releases.manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    ("GET", "/api/releases/"),
    ("POST", "/api/releases/"),
    ("GET", "/api/releases/{version}/"),
    ("PUT", "/api/releases/{version}/"),
    ("PATCH", "/api/releases/{version}/"),
    ("DELETE", "/api/releases/{version}/"),
    ("GET", "/api/releases/{version}/manifest"),
    ("PUT", "/api/releases/{version}/manifest"),
    ("GET", "/api/releases/{version}/pins/"),
    ("GET", "/api/releases/{version}/pins/{repository}/"),
    ("PATCH", "/api/releases/{version}/pins/{repository}/"),
    ("GET", "/api/releases/{version}/deployments/"),
    ("GET", "/api/releases/{version}/deployments/{environment}/"),
    ("PUT", "/api/releases/{version}/deployments/{environment}/"),
    ("PATCH", "/api/releases/{version}/deployments/{environment}/"),
    ("GET", "/api/releases/{version}/diff/{other}"),
    ("GET", "/api/releases/{version}/history/"),
    ("GET", "/api/releases/{version}/evidence"),
    ("POST", "/api/releases/{version}/validate"),
    ("GET", "/api/validation-runs/{id}/"),
    ("GET", "/api/environments/"),
    ("GET", "/api/environments/{name}/"),
    ("GET", "/api/environments/{name}/diff/{other}"),
    ("GET", "/api/releases/{version}/changes/"),
    ("GET", "/api/releases/{version}/promotion/{environment}"),
    ("GET", "/api/releases/{version}/promotion/{environment}/approvals/"),
    ("POST", "/api/releases/{version}/promotion/{environment}/approvals/"),
}
# A handful of examples per operation keeps the whole run well under a minute.
EXAMPLES_PER_OPERATION = int(os.environ.get("API_SCHEMA_EXAMPLES", "12"))


def test_the_schema_lists_every_endpoint_with_its_errors_and_yaml(writer: APIClient) -> None:
    schema = writer.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    found = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method in operations
    }
    assert found == ENDPOINTS
    manifest = schema["paths"]["/api/releases/{version}/manifest"]
    assert "application/yaml" in manifest["get"]["responses"]["200"]["content"]
    assert "application/yaml" in manifest["put"]["requestBody"]["content"]
    put = schema["paths"]["/api/releases/{version}/"]["put"]
    assert {"400", "401", "403", "404", "412"} <= set(put["responses"])
    validate = schema["paths"]["/api/releases/{version}/validate"]["post"]
    assert {"202", "401", "403", "404"} <= set(validate["responses"])
    accepted = validate["responses"]["202"]["content"]["application/json"]["schema"]
    assert accepted["$ref"].endswith("/RunRequested")
    run = schema["paths"]["/api/validation-runs/{id}/"]["get"]
    assert {"200", "401", "404"} <= set(run["responses"])
    run_body = schema["components"]["schemas"]["ValidationRun"]["properties"]
    assert set(run_body) == {
        "id",
        "release",
        "state",
        "requested_by",
        "queued_at",
        "started_at",
        "finished_at",
        "counts",
        "results",
        "error",
        "superseded_by",
    }
    error = schema["components"]["schemas"]["Errors"]
    assert error["properties"]["errors"]["items"]["$ref"].endswith("/Error")
    assert "tokenAuth" in schema["components"]["securitySchemes"]


@contextmanager
def connection_kept_open() -> Iterator[None]:
    """Call the WSGI application as Django's test client does: without closing the test's
    database connection (and its transaction) at the start and end of every request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@override_settings(REGISTRY_API_THROTTLE_RATE="")
def test_every_operation_keeps_to_the_schema() -> None:
    with connection_kept_open():
        run_schemathesis()


def run_schemathesis() -> None:
    import_text(RELEASE_1_4)
    _token, key = ApiToken.create_token("schemathesis", "write")
    auth = {"Authorization": f"Token {key}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", get_wsgi_application(), headers=auth
    )
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=auth)
            case.validate_response(response, checks=checks, headers=auth)

        check()
        tested.append(operation.label)
    assert len(tested) == len(ENDPOINTS)
