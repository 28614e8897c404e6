"""How states, findings and deployments look on admin pages."""

from __future__ import annotations

from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from ..models import ValidationState

# Worst last: a release's badge is its worst pin's state (releases.admin.releases).
STATE_RANK = {
    ValidationState.VALID: 0,
    ValidationState.UNCHECKED: 1,
    ValidationState.WARNING: 2,
    ValidationState.UNREACHABLE: 3,
    ValidationState.INVALID: 4,
}
STATE_BY_RANK = {rank: state for state, rank in STATE_RANK.items()}


def state_badge(state: str) -> SafeString:
    label = ValidationState(state).label if state in ValidationState.values else state
    return format_html('<span class="rr-badge rr-state-{}">{}</span>', state, label)


def findings_list(findings: Any) -> SafeString:
    """Findings as messages ("tag v9 not found at tags"), not JSON."""
    if not findings:
        return SafeString("")
    return format_html(
        '<ul class="rr-findings">{}</ul>',
        format_html_join(
            "",
            '<li class="rr-{}">{}{}</li>',
            (
                (
                    finding.get("severity", ""),
                    f"{finding['path']}: " if finding.get("path") else "",
                    finding.get("message", ""),
                )
                for finding in findings
                if isinstance(finding, dict)
            ),
        ),
    )


def deployment_chip(environment: str, namespace: str, status: str) -> SafeString:
    return format_html(
        '<span class="rr-chip rr-status-{}" title="{} in {}: {}">{} <small>{}</small></span>',
        status,
        namespace,
        environment,
        status.replace("_", " "),
        environment,
        namespace if status == "deployed" else f"{namespace} · {status.replace('_', ' ')}",
    )
