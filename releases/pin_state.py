"""The one truth about a pin's state: derived from its findings, by every write path.

Findings are of two kinds. Offline ones (:data:`~releases.manifests.OFFLINE_CODES`) follow
from the release's manifest alone and are recomputed for the whole release whenever it may
have changed (a dependency cycle can come or go when another pin changes). Online ones (tag
missing, repository unreachable, ...) are the last online validation's, about the pin's
tag, commit and URL: they stay while those stay, and go (with ``validated_at``) when one of
them changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .manifests import OFFLINE_CODES, Finding, check_manifest
from .validation.checks import UNCHECKED_CODES, UNREACHABLE_CODES

if TYPE_CHECKING:
    from .models import Release, RepositoryPin


# A change of any of these makes earlier online results about the pin meaningless (another
# repository is another subject altogether; the package index check is about the package
# version).
ONLINE_SUBJECT_FIELDS = ("repository_id", "tag", "commit_sha", "url", "package_version")

_PIN_PATH = re.compile(r"^repositories\[(\d+)\]")


def state_of(findings: Iterable[dict[str, Any]], *, checked_online: bool) -> str:
    """A pin's ``validation_state`` from its findings.

    unreachable > invalid (an error) > unchecked (no URL to check it against) > warning (any
    other finding) > valid (checked online and clean) > unchecked.
    """
    from .models import ValidationState

    findings = list(findings)
    if not findings:
        # Checked online and nothing found (most pins, most of the time), or not checked.
        return ValidationState.VALID if checked_online else ValidationState.UNCHECKED
    # The repository could not be reached (or its URL was refused before anything ran), so
    # nothing is known about the pin: never "invalid" (CONTRACT §1), and kept by a re-import.
    if any(finding["code"] in UNREACHABLE_CODES for finding in findings):
        return ValidationState.UNREACHABLE
    if any(finding["severity"] == "error" for finding in findings):
        return ValidationState.INVALID
    # No URL to check the pin against: nothing was learnt online, whatever else it says.
    if any(finding["code"] in UNCHECKED_CODES for finding in findings):
        return ValidationState.UNCHECKED
    return ValidationState.WARNING


def online_findings(findings: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [finding for finding in findings if finding["code"] not in OFFLINE_CODES]


def reset_online_results(pin: RepositoryPin) -> None:
    """Forget what the last online validation said about the pin (its values changed)."""
    pin.findings = [f for f in pin.findings if f["code"] in OFFLINE_CODES]
    pin.validated_at = None


def reset_online_results_if_moved_on(pin: RepositoryPin) -> None:
    """Before a save: drop the online results when the tag, commit or URL changed, and
    remember the commit the pin held before (:func:`remember_previous_commit`)."""
    changed = pin.changed_fields(ONLINE_SUBJECT_FIELDS)
    if changed:
        stored = pin.stored_values() or {}
        if "repository_id" in changed:
            pin.previous_commit_sha = None
        elif "commit_sha" in changed:
            remember_previous_commit(pin, stored.get("commit_sha"))
        reset_online_results(pin)


def remember_previous_commit(pin: RepositoryPin, before: str | None) -> bool:
    """The pin's commit changed from ``before``: keep it as ``previous_commit_sha``, the commit
    the next validation runs check the new one descends from (backport safety). The check's
    finding stays while the commit does (every run asks again, from the cached clone). A pin
    that had no commit keeps the one it had before that. Whether the field changed."""
    if before is None or before == pin.commit_sha or before == pin.previous_commit_sha:
        return False
    pin.previous_commit_sha = before
    return True


def apply_offline_findings(
    pin: RepositoryPin, offline: Sequence[dict[str, Any]], position: int | None = None
) -> bool:
    """Give ``pin`` these offline findings (its online ones kept, after them, and located at
    the pin's place in the manifest now, ``position`` or its own) and the state they make;
    whether anything changed."""
    here = f"repositories[{pin.position if position is None else position}]"
    findings = list(offline) + [
        {**finding, "path": _PIN_PATH.sub(here, finding["path"], count=1)}
        for finding in online_findings(pin.findings)
    ]
    state = state_of(findings, checked_online=pin.validated_at is not None)
    if findings == pin.findings and state == pin.validation_state:
        return False
    pin.findings = findings
    pin.validation_state = state
    return True


def with_online_findings(
    findings: Sequence[dict[str, Any]], online: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], str]:
    """A pin's findings with a validation run's online ones in place of the earlier online
    ones (the offline ones stay, first), and the state they make."""
    if not findings and not online:
        return [], state_of((), checked_online=True)  # a clean pin, most of a run's
    kept = [finding for finding in findings if finding["code"] in OFFLINE_CODES]
    combined = kept + list(online)
    return combined, state_of(combined, checked_online=True)


def apply_online_findings(
    pin: RepositoryPin, online: Sequence[dict[str, Any]], checked_at: datetime
) -> bool:
    """Give ``pin`` a validation run's online findings (see :func:`with_online_findings`),
    ``validated_at`` and the state they make; whether its findings or state changed (a new
    ``validated_at`` alone is not a change of the pin)."""
    findings, state = with_online_findings(pin.findings, online)
    changed = findings != pin.findings or state != pin.validation_state
    pin.findings = findings
    pin.validation_state = state
    pin.validated_at = checked_at
    return changed


def split_findings(
    findings: Iterable[Finding],
) -> tuple[dict[int, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Offline findings of a manifest by pin position (``repositories[i]...``), and the
    release-level rest."""
    by_pin: dict[int, list[dict[str, Any]]] = {}
    release: list[dict[str, Any]] = []
    for finding in findings:
        match = _PIN_PATH.match(finding.path)
        if match:
            by_pin.setdefault(int(match.group(1)), []).append(finding.as_dict())
        else:
            release.append(finding.as_dict())
    return by_pin, release


def recheck_releases(release_ids: Iterable[int]) -> tuple[dict[int, set[str]], set[int]]:
    """Recompute the offline findings of every pin of these releases (and their
    release-level findings) from what is stored, writing only what changed.

    Returns the repository names of the pins whose findings or state changed, by release, and
    the ids of
    releases whose own findings changed. A constant number of queries, whatever the size.
    """
    from simple_history.utils import bulk_update_with_history

    from . import changes
    from .exporting import release_to_manifest
    from .models import Release, RepositoryPin

    ids = list(release_ids)
    if not ids:
        return {}, set()
    changed_pins: dict[int, set[str]] = {}
    changed_releases: set[int] = set()
    to_update: list[RepositoryPin] = []
    releases: list[Release] = list(Release.objects.with_manifest_data().filter(pk__in=ids))
    for release in releases:
        by_pin, release_level = split_findings(check_manifest(release_to_manifest(release)))
        for position, pin in enumerate(release.pins.all()):
            if apply_offline_findings(pin, by_pin.get(position, []), position):
                to_update.append(pin)
                changed_pins.setdefault(release.pk, set()).add(pin.repository.name)
        if release_level != release.findings:
            changed_releases.add(release.pk)
            # No signal and no save: this is part of the batch being flushed.
            Release.objects.filter(pk=release.pk).update(findings=release_level)
    if to_update:
        bulk_update_with_history(
            to_update,
            RepositoryPin,
            ["findings", "validation_state"],
            **changes.history_defaults(),
        )
    return changed_pins, changed_releases
