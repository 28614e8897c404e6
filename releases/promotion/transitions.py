"""What a change batch brings live, and the override its writer asked for.

Kept apart from :mod:`releases.promotion.enforcement` (which checks them when the batch ends)
so that the row writers can note without importing the importer.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .. import changes

PERMISSION = "releases.override_promotion"


@dataclass(frozen=True)
class Note:
    source: str


@dataclass
class _State:
    transitions: dict[tuple[int, int], Note] = field(default_factory=dict)
    override: str | None = None


_states: weakref.WeakKeyDictionary[changes.Batch, _State] = weakref.WeakKeyDictionary()
# (reason, trusted): set around a write by a shell that takes an override.
_override: ContextVar[tuple[str, bool] | None] = ContextVar("promotion_override", default=None)


def note_live(release_id: int, environment_id: int, source: str) -> None:
    """A deployment of ``release_id`` to ``environment_id`` becomes live in the open batch."""
    batch = changes.current()
    if batch is None:
        return
    state = _states.setdefault(batch, _State())
    state.transitions.setdefault((release_id, environment_id), Note(source))


def request_override(reason: str) -> None:
    """Record the open batch's refused deployments anyway, with ``reason`` (the admin's
    reason field); the batch's user must hold the override permission."""
    batch = changes.current()
    if batch is not None and reason.strip():
        _states.setdefault(batch, _State()).override = reason.strip()


@contextmanager
def overriding(reason: str | None, *, trusted: bool = False) -> Iterator[None]:
    """Writes inside record refused deployments anyway, with ``reason``. ``trusted`` (the
    command line, whose operator has the server) needs no permission; otherwise the
    batch's user must hold ``releases.override_promotion``."""
    token = _override.set((reason.strip(), trusted) if reason and reason.strip() else None)
    try:
        yield
    finally:
        _override.reset(token)


def may_override(user: Any) -> bool:
    return bool(user is not None and user.is_active and user.has_perm(PERMISSION))
