"""Manifest texts the release tests share."""

from __future__ import annotations

from textwrap import dedent
from typing import Any

from releases.importing import ImportResult, import_manifest
from releases.manifests import parse_manifest

RELEASE_1_4 = dedent(
    """\
    version: "1.4"
    created_at: "2025-01-15T10:00:00Z"
    created_by: "platform-team"
    environments:
      production:
        deployed_at: "2025-01-20T14:30:00Z"
        namespace: "prod-v1.4"
    repositories:
      - name: "fogpy"
        tag: "v2.6.1"
        commit_sha: "abc123def4567890abc123def4567890abc123de"
        package_version: "2.6.1"
        depends_on: ["fogpy_utils"]
      - name: "fogpy_utils"
        tag: "v1.4.2"
        commit_sha: "def4567890abc123def4567890abc123def45678"
        package_version: "1.4.2"
      - name: "chempipe-plugins"
        tag: "v3.1.0"
        commit_sha: "0123456789abcdef0123456789abcdef01234567"
        package_version: "3.1.0"
        depends_on: ["fogpy"]
    metadata:
      notes: "Production release"
      ticket: "REL-140"
    """
)


def import_text(text: str, source: str = "manifests/v1.4.yaml", **options: Any) -> ImportResult:
    return import_manifest(parse_manifest(text, source=source), source=source, **options)


def generated_manifest(pins: int, version: str = "9.0", tag_suffix: str = "") -> str:
    """A valid manifest with ``pins`` repositories, each depending on the one before."""
    lines = [f'version: "{version}"', 'created_at: "2025-03-01T00:00:00Z"', "environments:"]
    lines += [
        "  production:",
        '    deployed_at: "2025-03-02T00:00:00Z"',
        f'    namespace: "prod-{version}"',
    ]
    lines += [
        "  staging:",
        '    deployed_at: "2025-03-01T12:00:00Z"',
        f'    namespace: "staging-{version}"',
    ]
    lines.append("repositories:")
    for i in range(pins):
        lines += [
            f'  - name: "repo-{i:04d}"',
            f'    tag: "v1.{i}.0{tag_suffix}"',
            f'    commit_sha: "{i:040x}"',
            f'    package_version: "1.{i}.0{tag_suffix}"',
        ]
        if i:
            lines.append(f'    depends_on: ["repo-{i - 1:04d}"]')
    lines += ["metadata:", '  notes: "generated"']
    return "\n".join(lines) + "\n"
