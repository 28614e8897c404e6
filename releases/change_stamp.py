"""A stamp that every process sees change when a change to the releases commits.

The stamp is a random token in the shared cache (Redis), replaced when a change batch
(:mod:`releases.changes`) commits. A reader that takes the stamp *before* reading the database
may keep what it read under that stamp (in its own memory) and answer from it while the stamp
is the same, without a query:

- a change committed after the reader took the stamp replaces it, so what was kept under the
  old one is never used again;
- a reader that took the stamp after a change committed and before its replacement read the
  new state, or, with a stamp taken earlier, answers while that write is not yet answered;
- a rolled-back change never replaces it, and left the state as it was read.

Only where the cache is shared by every process (not Django's per-process memory cache) and
outside a transaction: inside one (a test's, or a write's own) a reader may see its own
uncommitted rows, which must not be kept. What is kept is also bounded in age
(:data:`MAX_AGE_SECONDS`): a write that somehow bypassed the change hook, or a replacement lost
while Redis was away, is seen within that time.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.dispatch import receiver

from . import changes, revision_cache

logger = logging.getLogger(__name__)

KEY = "releases-change-stamp"

#: How long a value kept under a stamp may be served at most, even if the stamp stays.
MAX_AGE_SECONDS = 2.0


def _shared() -> bool:
    """Whether the cache is one that every process sees (not one per process)."""
    return not isinstance(caches["default"], LocMemCache | DummyCache)


def _usable() -> bool:
    return _shared() and not connections[DEFAULT_DB_ALIAS].in_atomic_block


def current(read: Mapping[str, Any] | None = None) -> str | None:
    """The stamp to keep a read under, taken before the read; ``None`` when reads cannot be
    kept (no shared cache, inside a transaction, Redis away). ``read``: what a read of the
    cache for :data:`KEY` (with others) just found, to save a round trip."""
    if not _usable():
        return None
    stamp = read.get(KEY) if read is not None else cache.get(KEY)
    if stamp is None:
        candidate = uuid.uuid4().hex
        stamp = candidate if cache.add(KEY, candidate, None) else cache.get(KEY)
    return stamp if isinstance(stamp, str) else None


def replace() -> None:
    """A new stamp: what was kept under the old one is not used again."""
    if not _shared():
        return
    # set_many, not set: an invalidation, tried even while this process takes Redis for away
    # (config.cache), and loud when it fails (logged: the commit's callback is robust).
    cache.set_many({KEY: uuid.uuid4().hex}, None)


@receiver(changes.batch_ending, dispatch_uid="releases.change_stamp")
def replace_on_commit(sender: Any, **kwargs: Any) -> None:
    """Every change batch replaces the stamp once it commits (never, if it rolls back)."""
    transaction.on_commit(replace, robust=True)


def kept(stamp: str, key: str) -> Any:
    """The value kept in this process's memory under ``stamp`` and ``key``, if young enough."""
    found = revision_cache.get_local(f"stamped:{stamp}:{key}")
    if found is None:
        return None
    made, value = found
    return value if time.monotonic() - made < MAX_AGE_SECONDS else None


def keep(stamp: str, key: str, value: Any) -> None:
    """Keep ``value`` (read after ``stamp`` was taken) in this process's memory."""
    revision_cache.set_local(f"stamped:{stamp}:{key}", (time.monotonic(), value))
