"""Sending the queued changes of a release to Notion.

:func:`sync_release` claims a release (its release row in the outbox, so one sender at a time
works on it), reads the release's state NOW, and for each queued object sends that latest
state: creates the page (after looking for one with the same ``Registry key``, so that a
create retried after a crash finds its page instead of making a second one), updates it, or
moves it to the trash. What was sent is hashed; an object whose values hash as last sent makes
no request. A row is deleted once sent, unless a new change renewed its token meanwhile; a
failure backs it off exponentially and, after ``NOTION_MAX_ATTEMPTS``, marks it failed (still
retried, at the longest backoff).

The claim lasts ``NOTION_CLAIM_SECONDS`` (a minute) and the sender renews it before its
requests while it works, so a slow sync keeps its release however long it takes, and a killed
worker's claim runs out a minute later. A sync that fails gives its claim up, or, when the
database is away at that moment, hands it to its retry (:class:`SyncCutShort`).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.db import Error, connections, router, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from notion_client.helpers import iterate_paginated_api

from .client import Notion, NotionRefused, NotionUnavailable
from .mapping import (
    ReleaseSnapshot,
    digest,
    environment_names,
    load_release,
    pin_key,
    pin_properties,
    release_properties,
    versions_schema,
    views_schema,
)
from .models import RELEASE_PAGE, NotionChange, NotionPage

logger = logging.getLogger(__name__)

ROUNDS = 5
FLUSH_EVERY = 50
WORKSPACE_SECONDS = 300


@dataclass(frozen=True)
class Workspace:
    """The data sources behind the configured databases, with their properties in place."""

    views: str
    versions: str | None
    environments: list[str]


_workspaces: dict[tuple[Any, ...], tuple[float, Workspace]] = {}


def workspace(notion: Notion, *, refresh: bool = False) -> Workspace:
    """Resolve the data sources and add the properties they miss (cached a few minutes)."""
    environments = environment_names()
    key = (
        settings.NOTION_BASE_URL,
        settings.NOTION_RELEASE_VIEWS_DATABASE_ID,
        settings.NOTION_PRODUCT_VERSIONS_DATABASE_ID,
        bool(settings.REGISTRY_PUBLIC_URL),
        tuple(environments),
    )
    cached = _workspaces.get(key)
    if cached and not refresh and time.monotonic() - cached[0] < WORKSPACE_SECONDS:
        return cached[1]
    versions = None
    if settings.NOTION_PRODUCT_VERSIONS_DATABASE_ID:
        versions = data_source_of(notion, settings.NOTION_PRODUCT_VERSIONS_DATABASE_ID)
        add_missing_properties(notion, versions, versions_schema(environments))
    views = data_source_of(notion, str(settings.NOTION_RELEASE_VIEWS_DATABASE_ID))
    add_missing_properties(notion, views, views_schema(environments, versions))
    found = Workspace(views, versions, environments)
    _workspaces[key] = (time.monotonic(), found)
    return found


def data_source_of(notion: Notion, database_id: str) -> str:
    """The (first) data source of a database (Notion-Version 2025-09-03)."""
    database = notion.call("retrieve database", notion.client.databases.retrieve, database_id)
    sources = database.get("data_sources") or []
    if not sources:
        raise NotionRefused(400, "no_data_source", f"database {database_id} has no data source")
    return str(sources[0]["id"])


def add_missing_properties(notion: Notion, source: str, wanted: dict[str, Any]) -> list[str]:
    """Add the properties of ``wanted`` the data source lacks; leave the others alone."""
    current = notion.call("retrieve data source", notion.client.data_sources.retrieve, source)
    existing = current.get("properties", {})
    missing = {name: config for name, config in wanted.items() if name not in existing}
    if missing:
        notion.call("add properties", notion.client.data_sources.update, source, properties=missing)
        logger.info("notion: added properties %s to data source %s", sorted(missing), source)
    return sorted(missing)


def key_filter(key: str, *, prefix: bool = False) -> dict[str, Any]:
    return {
        "property": "Registry key",
        "rich_text": {"starts_with" if prefix else "equals": key},
    }


def query_pages(notion: Notion, source: str, filter: dict[str, Any] | None = None) -> Any:
    """Every live page of a data source (matching ``filter``), 100 per request."""
    kwargs: dict[str, Any] = {"data_source_id": source, "page_size": 100}
    if filter is not None:
        kwargs["filter"] = filter

    def query(**kw: Any) -> Any:
        return notion.call("query data source", notion.client.data_sources.query, **kw)

    return iterate_paginated_api(query, **kwargs)


def page_key(page: dict[str, Any]) -> str:
    value = page.get("properties", {}).get("Registry key", {})
    return "".join((t.get("text") or {}).get("content", "") for t in value.get("rich_text") or [])


@dataclass
class Outcome:
    """What a sync did."""

    created: int = 0
    updated: int = 0
    trashed: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)
    busy: int = 0

    def add(self, other: Outcome) -> None:
        self.created += other.created
        self.updated += other.updated
        self.trashed += other.trashed
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.busy += other.busy

    @property
    def sent(self) -> int:
        return self.created + self.updated + self.trashed


# --- the outbox ---------------------------------------------------------------------------


# What a queued change writes, and what a newer change of an object already queued renews
# (its ``queued_at`` and any claim stay).
_QUEUED = ("release_id", "repository", "version", "token", "state", "attempts", "next_attempt_at",
           "last_error", "queued_at")  # fmt: skip
_RENEWED = ("version", "token", "state", "attempts", "next_attempt_at", "last_error")


def queue(release_id: int, version: str, repositories: Iterable[str]) -> None:
    """Queue the objects of a release (``""`` is the release's own page): one row each,
    coalesced with a row already queued (its token renewed, its attempts reset)."""
    queue_releases([(release_id, version, repositories)])


def queue_releases(releases: Iterable[tuple[int, str, Iterable[str]]]) -> None:
    """:func:`queue` for several releases (each ``(release id, version, repositories)``):
    every row with ONE ``INSERT ... ON CONFLICT DO UPDATE`` sent with ``executemany``. An
    import of a thousand pins queues a thousand rows inside its transaction, a validation run
    thousands for hundreds of releases, and Django's ``bulk_create`` would spend longer
    compiling that statement than the import spends writing the pins. (One statement per
    release cost a validation run that changed every pin 200 round trips; one multi-row
    ``VALUES`` list was slower on PostgreSQL than the pipelined ``executemany``.)
    """
    wanted: dict[int, tuple[str, set[str]]] = {}
    for release_id, version, repositories in releases:
        # One row per object even if a release is named twice (the last version named wins).
        wanted[release_id] = (version, wanted.get(release_id, ("", set()))[1] | set(repositories))
    if not any(names for _, names in wanted.values()):
        return
    now = timezone.now()
    connection = connections[router.db_for_write(NotionChange)]
    by_name = {field.name: field for field in NotionChange._meta.concrete_fields}
    fields = [by_name[name] for name in _QUEUED]
    quote = connection.ops.quote_name
    # Only the model's own table and column names go into the text; values are parameters.
    table = quote(NotionChange._meta.db_table)
    cols = ", ".join(quote(field.column or field.name) for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    keys = f"{quote('release_id')}, {quote('repository')}"
    renew = ", ".join(f"{quote(name)} = excluded.{quote(name)}" for name in _RENEWED)
    sql = (
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT ({keys}) DO UPDATE SET {renew}"  # noqa: S608
    )
    # Every column but the release, its version, the repository and the token is the same
    # for all rows: prepared once.
    same = {
        "state": NotionChange.State.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "last_error": "",
        "queued_at": now,
    }
    values = {
        name: by_name[name].get_db_prep_save(value, connection) for name, value in same.items()
    }
    token_field = by_name["token"]
    rows: list[list[Any]] = []
    for release_id, (version, names) in wanted.items():
        values.update(release_id=release_id, version=version)
        for repository in sorted(names):
            values["repository"] = repository
            values["token"] = token_field.get_db_prep_save(uuid.uuid4(), connection)
            rows.append([values[name] for name in _QUEUED])
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def backoff(attempts: int) -> timedelta:
    seconds = settings.NOTION_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, settings.NOTION_BACKOFF_MAX_SECONDS))


def record_failure(row: NotionChange, error: Exception) -> None:
    """Back the row off (unless a newer change renewed it: that one is due now)."""
    attempts = row.attempts + 1
    failed = attempts >= settings.NOTION_MAX_ATTEMPTS
    NotionChange.objects.filter(pk=row.pk, token=row.token).update(
        attempts=attempts,
        state=NotionChange.State.FAILED if failed else NotionChange.State.PENDING,
        next_attempt_at=timezone.now() + backoff(attempts),
        last_error=str(error)[:2000],
    )
    log = logger.error if failed else logger.warning
    log("notion: %s not sent (attempt %d): %s", row, attempts, error)


class ClaimLost(Exception):
    """The release's hold ran out unrenewed and another sender holds it now: stop sending."""


class SyncCutShort(Exception):
    """A sync failed while it held its release and could not give the hold up (the database
    away): the retry that passes ``held_until`` on to :func:`sync_release` takes it over at
    once; anyone else waits until it runs out."""

    def __init__(self, release_id: int, held_until: datetime) -> None:
        super().__init__(
            f"the Notion sync of release {release_id} was cut short; its hold runs until "
            f"{held_until.isoformat()} unless its retry takes it over"
        )
        self.release_id = release_id
        self.held_until = held_until


def _claim_seconds() -> float:
    return float(settings.NOTION_CLAIM_SECONDS)


class Claim:
    """A sender's hold on a release: its release row's ``claimed_until``, which names the
    holder (a compare-and-set on it renews or gives up only this sender's own hold)."""

    def __init__(self, release_id: int, until: datetime, renewed: float) -> None:
        self.release_id = release_id
        self.until = until
        self.renewed = renewed

    def _row(self) -> QuerySet[NotionChange]:
        return NotionChange.objects.filter(
            release_id=self.release_id, repository=RELEASE_PAGE, claimed_until=self.until
        )

    def keep(self) -> None:
        """Renew the hold once a third of it has gone by (called before each request to
        Notion, so a request, at most 30 s, starts with two thirds of it left); raises
        :class:`ClaimLost` if it ran out meanwhile and another sender took the release."""
        seconds = _claim_seconds()
        if time.monotonic() - self.renewed < seconds / 3:
            return
        renewed = time.monotonic()
        until = timezone.now() + timedelta(seconds=seconds)
        if not self._row().update(claimed_until=until):
            raise ClaimLost(f"release {self.release_id} is held by another sender now")
        self.until, self.renewed = until, renewed

    def release(self, release_done: uuid.UUID | None = None) -> None:
        """Give the hold up, deleting the release row if its latest change was sent."""
        if release_done is not None:
            NotionChange.objects.filter(
                release_id=self.release_id, repository=RELEASE_PAGE, token=release_done
            ).delete()
        self._row().update(claimed_until=None)

    def give_up(self, release_done: uuid.UUID | None = None) -> bool:
        """After a failure, release the hold if the database lets us: on a new connection if
        the failure broke this one. False if it is still held (the database is away)."""
        connection = connections[router.db_for_write(NotionChange)]
        for attempt in range(2):
            try:
                self.release(release_done)
                return True
            except Error as exc:  # DatabaseError, or InterfaceError on a closed connection
                if attempt or connection.in_atomic_block:
                    logger.warning(
                        "notion: release %s stays held until %s: %s",
                        self.release_id,
                        self.until.isoformat(),
                        exc,
                    )
                    return False
                with contextlib.suppress(Error):
                    connection.close()  # broken: the next query opens a new connection
        return False


def claim(release_id: int, version: str, *, resume: datetime | None = None) -> Claim | None:
    """Hold the release for ``NOTION_CLAIM_SECONDS`` (renewed by :meth:`Claim.keep`), unless
    another sender holds it. ``resume``: a hold left by a sync of ours that was cut short,
    taken over at once."""
    now = timezone.now()
    NotionChange.objects.bulk_create(
        [
            NotionChange(
                release_id=release_id,
                repository=RELEASE_PAGE,
                version=version,
                next_attempt_at=now,
                queued_at=now,
            )
        ],
        ignore_conflicts=True,
    )
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    if resume is not None:
        free |= Q(claimed_until=resume)
    renewed = time.monotonic()
    until = now + timedelta(seconds=_claim_seconds())
    taken = (
        NotionChange.objects.filter(release_id=release_id, repository=RELEASE_PAGE)
        .filter(free)
        .update(claimed_until=until)
    )
    return Claim(release_id, until, renewed) if taken else None


def due(release_id: int) -> list[NotionChange]:
    return list(
        NotionChange.objects.filter(release_id=release_id, next_attempt_at__lte=timezone.now())
    )


# --- sending ------------------------------------------------------------------------------


class ReleaseSender:
    """Sends the queued objects of one release, in rounds, until none is due."""

    def __init__(self, notion: Notion, release_id: int) -> None:
        self.notion = notion
        self.release_id = release_id
        self.outcome = Outcome()
        self.found: dict[str, str] | None = None
        # The token of the release row last sent: that row is deleted when the sender ends.
        self.release_done: uuid.UUID | None = None
        # Sent, not yet written down (see flush).
        self.records: dict[str, NotionPage] = {}
        self.sent_rows: list[NotionChange] = []
        self.unavailable = False
        # Rows that failed in this run wait for their backoff, even a zero one.
        self.failed: set[tuple[int, uuid.UUID]] = set()

    def due(self) -> list[NotionChange]:
        return [
            row
            for row in due(self.release_id)
            if not (row.repository == RELEASE_PAGE and row.token == self.release_done)
            and (row.pk, row.token) not in self.failed
        ]

    def run(self) -> Outcome:
        for _ in range(ROUNDS):
            rows = self.due()
            if not rows:
                break
            try:
                self.round(rows)
            except NotionUnavailable as exc:
                self.unavailable = True
                self.flush()
                for row in self.due():
                    record_failure(row, exc)
                    self.outcome.failed.append(f"{row}: {exc}")
                break
        return self.outcome

    def round(self, rows: list[NotionChange]) -> None:
        release = load_release(self.release_id)
        ws = workspace(self.notion)
        pages = {p.repository: p for p in NotionPage.objects.filter(release_id=self.release_id)}
        self.found = None
        release_row = next((r for r in rows if r.repository == RELEASE_PAGE), None)
        if release_row is not None:
            if self.guarded(release_row, lambda: self.send_release_page(ws, release, pages)):
                self.release_done = release_row.token
            self.flush()
            pages = {p.repository: p for p in NotionPage.objects.filter(release_id=self.release_id)}
            # A newly made release page: its pins relate to it now.
            rows = self.due()
        for row in rows:
            if row.repository != RELEASE_PAGE and self.guarded(
                row, lambda row=row: self.send_pin(ws, release, pages, row)
            ):
                self.sent_rows.append(row)
            if len(self.sent_rows) >= FLUSH_EVERY:
                self.flush()
        self.flush()

    def flush(self) -> None:
        """Write down what was sent: the pages made or updated, the rows done. Kept for a
        batch, as each commit costs more than a request; if the worker dies before, the
        pages are found again by their key, so nothing is made twice."""
        if not self.records and not self.sent_rows:
            return
        with transaction.atomic():
            if self.records:
                NotionPage.objects.bulk_create(
                    list(self.records.values()),
                    update_conflicts=True,
                    unique_fields=["release_id", "repository"],
                    update_fields=["registry_key", "page_id", "sent_hash", "sent_at"],
                )
            if self.sent_rows:
                NotionChange.objects.filter(
                    reduce(or_, (Q(pk=row.pk, token=row.token) for row in self.sent_rows))
                ).delete()
        self.records.clear()
        self.sent_rows.clear()

    def guarded(self, row: NotionChange, send: Any) -> bool:
        try:
            send()
        except NotionRefused as exc:
            if exc.code == "validation_error":
                # A property changed by hand, maybe: resolve the data sources again next time.
                _workspaces.clear()
            record_failure(row, exc)
            self.failed.add((row.pk, row.token))
            self.outcome.failed.append(f"{row}: {exc}")
            return False
        return True

    # --- the release page --------------------------------------------------------------

    def send_release_page(
        self, ws: Workspace, release: ReleaseSnapshot | None, pages: dict[str, NotionPage]
    ) -> None:
        record = pages.get(RELEASE_PAGE)
        if ws.versions is None:
            return
        if release is None:
            self.trash(record)
            return
        properties = release_properties(release)
        made = self.write(
            ws.versions,
            record,
            release.version,
            RELEASE_PAGE,
            properties,
            lookup=lambda: self.lookup(ws.versions or "", release.version),
        )
        if made:
            queue(release.id, release.version, release.pins)

    # --- a pin's page ------------------------------------------------------------------

    def send_pin(
        self,
        ws: Workspace,
        release: ReleaseSnapshot | None,
        pages: dict[str, NotionPage],
        row: NotionChange,
    ) -> None:
        record = pages.get(row.repository)
        pin = release.pins.get(row.repository) if release else None
        if release is None or pin is None:
            self.trash(record)
            return
        release_page = pages.get(RELEASE_PAGE)
        properties = pin_properties(
            release,
            pin,
            ws.environments,
            release_page.page_id if release_page and ws.versions else None,
            related=ws.versions is not None,
        )
        key = pin_key(release.version, pin.repository)
        self.write(
            ws.views,
            record,
            key,
            pin.repository,
            properties,
            lookup=lambda: self.pins_found(ws, release.version).get(key),
        )

    def pins_found(self, ws: Workspace, version: str) -> dict[str, str]:
        """The pages of this version's pins already in Notion (one paginated query)."""
        if self.found is None:
            self.found = {}
            for page in query_pages(self.notion, ws.views, key_filter(f"{version}:", prefix=True)):
                self.found.setdefault(page_key(page), page["id"])
        return self.found

    def lookup(self, source: str, key: str) -> str | None:
        for page in query_pages(self.notion, source, key_filter(key)):
            return str(page["id"])
        return None

    # --- writes ------------------------------------------------------------------------

    def write(
        self,
        source: str,
        record: NotionPage | None,
        key: str,
        repository: str,
        properties: dict[str, Any],
        *,
        lookup: Any,
    ) -> bool:
        """Create or update the page; True when it was created."""
        hashed = digest(properties)
        if record is not None and record.sent_hash == hashed and record.registry_key == key:
            self.outcome.unchanged += 1
            return False
        page_id = record.page_id if record else lookup()
        created = False
        if page_id is not None:
            try:
                self.notion.call(
                    "update page",
                    self.notion.client.pages.update,
                    page_id,
                    properties=properties,
                    in_trash=False,
                )
                self.outcome.updated += 1
            except NotionRefused as exc:
                if exc.status != 404:
                    raise
                page_id = None
        if page_id is None:
            page = self.notion.call(
                "create page",
                self.notion.client.pages.create,
                parent={"type": "data_source_id", "data_source_id": source},
                properties=properties,
                retry=False,
            )
            page_id, created = str(page["id"]), True
            self.outcome.created += 1
        self.records[repository] = NotionPage(
            release_id=self.release_id,
            repository=repository,
            registry_key=key,
            page_id=page_id,
            sent_hash=hashed,
            sent_at=timezone.now(),
        )
        return created

    def trash(self, record: NotionPage | None) -> None:
        if record is None:
            return
        try:
            self.notion.call(
                "trash page", self.notion.client.pages.update, record.page_id, in_trash=True
            )
            self.outcome.trashed += 1
        except NotionRefused as exc:
            if exc.status != 404:
                raise
        record.delete()


def sync_release(notion: Notion, release_id: int, *, resume: datetime | None = None) -> Outcome:
    """Send what is queued for a release; nothing if another sender holds it (that one sends
    what was queued while it worked).

    The hold is renewed before each request while the sync runs, and given up when it ends,
    also when it fails. If the database is away then, :class:`SyncCutShort` carries the hold
    to the caller, whose retry passes it back as ``resume``; a killed worker's hold runs out
    after ``NOTION_CLAIM_SECONDS``."""
    outcome = Outcome()
    held: Claim | None = None
    sender: ReleaseSender | None = None
    try:
        for _ in range(ROUNDS):
            version = (
                NotionChange.objects.filter(release_id=release_id)
                .values_list("version", flat=True)
                .first()
            )
            if version is None:
                break
            held = claim(release_id, version, resume=resume)
            resume = None
            if held is None:
                outcome.busy += 1
                break
            sender = ReleaseSender(notion, release_id)
            with notion.before_each_request(held.keep):
                outcome.add(sender.run())
            held.release(sender.release_done)
            held = None
            # A change queued while this sender held the release found it busy: send it now.
            if sender.failed or sender.unavailable or not due(release_id):
                break
    except ClaimLost as lost:
        # Its new holder sends what this one had not written down (found again by key).
        logger.warning("notion: %s; this sender stops", lost)
        outcome.busy += 1
    except BaseException as exc:
        done = sender.release_done if sender is not None else None
        if held is not None and held.give_up(done):
            raise
        until = held.until if held is not None else resume
        if until is None or not isinstance(exc, Exception):
            raise
        raise SyncCutShort(release_id, until) from exc
    return outcome


def due_releases(release_ids: Iterable[int] | None = None) -> list[int]:
    rows = NotionChange.objects.filter(next_attempt_at__lte=timezone.now())
    if release_ids is not None:
        rows = rows.filter(release_id__in=list(release_ids))
    return sorted(set(rows.values_list("release_id", flat=True)))


def backlog() -> dict[str, int]:
    """Queued changes by state: what ``/healthz`` and ``sync_notion`` show."""
    counts = {state: 0 for state in NotionChange.State.values}
    for row in NotionChange.objects.values("state").annotate(n=Count("pk")).order_by():
        counts[row["state"]] = row["n"]
    return counts
