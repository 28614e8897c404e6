"""The pinned content of releases, as the gate and approvals read it: one query for any number
of releases and pins (the pins with their dependencies' names joined in)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..models import RepositoryPin
from .rules import PinnedContent, pins_digest

#: The digest of a release without pins (one not stored yet).
NO_PINS = pins_digest([])


@dataclass
class PinFacts:
    """One pin as the gate reads it: its content and its validation."""

    content: PinnedContent
    state: str
    validated_at: dt.datetime | None


@dataclass
class _Pin:
    values: tuple[str, str, str | None, str | None, str]
    state: str
    validated_at: dt.datetime | None
    depends_on: list[str] = field(default_factory=list)


def pin_facts(release_ids: Iterable[int]) -> dict[int, list[PinFacts]]:
    """Each release's pins in manifest order (one query: a row per pin and dependency)."""
    rows = (
        RepositoryPin.objects.filter(release_id__in=list(release_ids))
        .order_by("release_id", "position", "pk", "dependency_links__position")
        .values_list(
            "release_id",
            "pk",
            "repository__name",
            "tag",
            "commit_sha",
            "package_version",
            "url",
            "validation_state",
            "validated_at",
            "dependency_links__depends_on__repository__name",
        )
    )
    pins: dict[int, dict[int, _Pin]] = {}
    for release_id, pk, name, tag, commit, package, url, state, at, dependency in rows:
        pin = pins.setdefault(release_id, {}).get(pk)
        if pin is None:
            pin = pins[release_id][pk] = _Pin((name, tag, commit, package, url), state, at)
        if dependency is not None:
            pin.depends_on.append(dependency)
    return {
        release_id: [
            PinFacts(PinnedContent(*pin.values, tuple(pin.depends_on)), pin.state, pin.validated_at)
            for pin in by_pk.values()
        ]
        for release_id, by_pk in pins.items()
    }


def digest_of(facts: Iterable[PinFacts]) -> str:
    return pins_digest(pin.content for pin in facts)


def current_digests(release_ids: Iterable[int]) -> dict[int, str]:
    """The digest of each release's pins as they are now (:func:`~.rules.pins_digest`)."""
    ids = set(release_ids)
    found = pin_facts(ids)
    return {release_id: digest_of(found.get(release_id, [])) for release_id in ids}
