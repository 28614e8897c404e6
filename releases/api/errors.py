"""Error bodies: ``{"errors": [{"path", "message", "code"}]}`` for bad input, DRF's
``{"detail": ...}`` for the rest (401, 403, 404, 412, 429)."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from releases.manifests import Finding, ManifestRejected


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The release changed since you read it (If-Match does not match its ETag)."
    default_code = "precondition_failed"


def error_body(findings: list[Finding]) -> dict[str, Any]:
    return {"errors": [_error(finding) for finding in findings]}


def _error(finding: Finding) -> dict[str, Any]:
    error: dict[str, Any] = {
        "path": finding.path,
        "message": finding.message,
        "code": finding.code,
    }
    if finding.line is not None:
        error["line"] = finding.line
    return error


def _flatten(detail: Any, path: str = "") -> list[Finding]:
    if isinstance(detail, dict):
        return [
            finding
            for key, value in detail.items()
            for finding in _flatten(value, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(detail, list):
        return [finding for item in detail for finding in _flatten(item, path)]
    return [Finding(getattr(detail, "code", "invalid"), "error", path, str(detail))]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    from releases.promotion.enforcement import PromotionRefused

    if isinstance(exc, PromotionRefused):  # CONTRACT §3: 409 with the gate's rules
        return Response(exc.as_dict(), status=status.HTTP_409_CONFLICT)
    if isinstance(exc, ManifestRejected):
        conflict = any(error.code == "conflict" for error in exc.errors)
        return Response(
            error_body(exc.errors),
            status=status.HTTP_409_CONFLICT if conflict else status.HTTP_400_BAD_REQUEST,
        )
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(exc, ValidationError):
        response.data = error_body(_flatten(exc.detail))
    return response
