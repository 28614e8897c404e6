"""Canonical manifest texts for the repository tests: ``org/name`` repositories, 40-hex
SHAs, unicode notes."""

from __future__ import annotations

import hashlib

from releases.manifests import dump_manifest, parse_manifest

OWNERS = ("pytroll", "platform", "data-eng")


def manifest_text(version: str, *, patch: int = 0, pins: int = 4, note: str = "") -> str:
    """Release ``version`` pinning ``pins`` repositories at ``<minor>.<patch>``, as
    ``export_manifest`` writes it."""
    lines = [
        f'version: "{version}"',
        'created_at: "2025-01-15T10:00:00Z"',
        'created_by: "platform-team"',
        "environments:",
        "  production:",
        '    deployed_at: "2025-01-20T14:30:00Z"',
        f'    namespace: "prod-v{version}"',
        "repositories:",
    ]
    for index in range(pins):
        name = f"{OWNERS[index % len(OWNERS)]}/component-{index:03d}"
        tag = f"v{version}.{patch}"
        sha = hashlib.sha256(f"{name}@{tag}".encode()).hexdigest()[:40]
        lines += [
            f'  - name: "{name}"',
            f'    tag: "{tag}"',
            f'    commit_sha: "{sha}"',
            f'    package_version: "{version}.{patch}"',
        ]
        if index:
            lines.append(f'    depends_on: ["{OWNERS[0]}/component-000"]')
    lines += ["metadata:", f'  notes: "Release {version} — Zoë\'s build {note}"']
    return dump_manifest(parse_manifest("\n".join(lines) + "\n"), "yaml")
