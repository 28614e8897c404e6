"""Clone a stored release as a new version: the start of a backport or of the next minor.

The clone is a manifest (the stored release's pins, dependencies and metadata, no
deployments: a new version runs nowhere yet) imported through :mod:`releases.importing`, so
it passes the same rules, history and change reports as any import.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from django.utils import timezone

from .exporting import manifest_for
from .importing import ImportResult, ManifestsRejected, import_manifests
from .manifests import Finding, ManifestRejected, dump_manifest, parse_manifest

_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def next_version(version: str) -> str:
    """The version a clone is offered by default: the last number bumped (1.4 -> 1.5,
    1.4.2 -> 1.4.3, 2.0-rc.1 -> 2.0-rc.2); ``<version>.1`` when there is no number."""
    match = _LAST_NUMBER.search(version)
    if match is None:
        return f"{version}.1"
    return f"{version[: match.start()]}{int(match.group()) + 1}{version[match.end() :]}"


def clone_release(version: str, new_version: str, *, user: Any = None) -> ImportResult:
    """Import stored release ``version`` as ``new_version``, without its deployments.

    Raises :class:`~releases.exporting.UnknownRelease` for an unknown ``version`` and
    :class:`ManifestRejected` (with located errors, nothing written) for a ``new_version``
    that is malformed or already stored.
    """
    source = f"clone of {version}"
    actor = user.get_username() if getattr(user, "pk", None) else None
    clone = dataclasses.replace(
        manifest_for(version),
        version=new_version,
        created_at=timezone.now().replace(microsecond=0),
        created_by=actor,
        environments={},
    )
    # Written out and read back: the new version meets every rule a manifest file meets.
    manifest = parse_manifest(dump_manifest(clone), source=source)
    try:
        result = import_manifests([(source, manifest)], user=user, only_new=True)[0]
    except ManifestsRejected as exc:
        raise ManifestRejected(source, exc.errors) from None
    if result.skipped:
        raise ManifestRejected(
            source,
            [
                Finding(
                    "version-exists",
                    "error",
                    "version",
                    f"release {new_version} already exists: choose another version",
                )
            ],
        )
    return result
