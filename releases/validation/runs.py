"""Validation runs: ask for one (a row, then a task after commit), carry it out, record it.

A run is carried out in three steps:

1. **claim** (one short transaction, the releases locked): queued runs become ``running``
   under this execution's ``attempt``; a run whose release another live run is validating is
   *superseded* (it ends ``done`` with ``superseded_by`` that run and takes its results when
   it ends; if it fails, so does this one), so two runs of one release never both write; a
   run already finished, or running under a worker that is alive, is left alone (a task
   delivered twice does the work once).
2. **gather** (no transaction): the distinct repository URLs are read first (a few rows) and
   listed, one ``ls-remote`` each, at bounded concurrency, WHILE the pins are read (with their
   findings and their release's revision) and the package index is asked (one lookup per
   distinct version); each remote's pins are judged as its answer comes
   (:mod:`releases.validation.checks`), and what the result makes of each pin (its findings
   and state, its entry in the run's results and that entry's JSON) is computed then, while
   the other remotes are still listed; a pin whose commit changed since it was created
   (``previous_commit_sha``, kept by :mod:`releases.pin_state` on every write path) is checked
   to descend from its previous commit in a cached blobless clone (backport safety).
3. **record**, all releases of the call in ONE ``changes.batch(changes.VALIDATION, ...)``
   (one transaction, the releases locked, a constant number of queries however many
   releases and pins): a release whose revision is still the one read needs no second read
   of its pins; one written since is read again and only the pins whose values are still
   the ones judged are written (a result about values a pin no longer has is dropped). Each
   pin's online findings replace its earlier ones
   (:func:`releases.pin_state.with_online_findings`); the pins whose findings or state
   changed are written with one statement and their history records copied by the database;
   every judged pin gets the new ``validated_at`` in one UPDATE (no history: only the time of
   the check is new); each run becomes ``done`` with its counts and results, if this
   execution still owns it, in one statement (results the same as ones a run of the release
   wrote before are copied from its row, not sent again). The batch bumps the revision of
   each release whose pins' results changed once and sends one ``release_changed`` for it
   (source ``"validation"``, actor the run's ``requested_by``).

The cyclic garbage collector is paused while runs are carried out (see
:func:`_collector_paused`).

A worker that dies leaves its runs ``running``: while a run is carried out its heartbeat is
written every ``REGISTRY_VALIDATION_HEARTBEAT`` seconds, and :func:`recover_stale_runs` (a
beat task every 30 s) sends again the runs silent for ``REGISTRY_VALIDATION_STALE_AFTER``
seconds, and the queued runs whose task never came.

Anything unexpected marks the claimed runs ``failed`` with the reason; transient database
errors propagate, so the Celery task retries them with backoff.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)
from django.db.models import CharField, Field, Model, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, Concat
from django.utils import timezone

from config.celery_app import publish_once
from registry.git.clones import CloneCache, clone_cache_from_settings
from registry.git.policy import GitPolicy, policy_from_settings
from registry.git.remote import RemoteTags, iter_remotes
from registry.git.urls import pin_url
from releases import changes
from releases.manifests.model import Finding
from releases.models import LIVE_STATUSES, Release, RepositoryPin, ValidationState
from releases.pin_state import with_online_findings

from .checks import PinResult, PinToCheck, RemoteAnswer, judge_pin
from .models import RunState, ValidationRun, empty_counts
from .online import DEFAULT_CONCURRENCY, backport_findings, lookup_packages
from .package_index import PackageIndex, package_index_from_settings

logger = logging.getLogger(__name__)

#: Errors worth another try (a database restarting, a deadlock victim): the task retries them.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
SCHEDULE = "schedule"

Progress = Callable[[str], None]


class _Row(Protocol):
    """A model instance, or a row with the model's attributes (:class:`_Stored`)."""

    @property
    def pk(self) -> Any: ...


_M = TypeVar("_M", bound=_Row)


# --- asking --------------------------------------------------------------------------------


# What judging a pin reads of it (and of its repository), in this order.
_PIN_COLUMNS = (
    "pk",
    "release_id",
    "repository__name",
    "repository__git_url",
    "repository__package_name",
    "tag",
    "commit_sha",
    "package_version",
    "url",
)


def request_run(release: Release, *, requested_by: str, user: Any = None) -> ValidationRun:
    """A queued run of ``release``; its task is enqueued when the current transaction
    commits (at once outside one)."""
    return request_runs([release], requested_by=requested_by, user=user)[0]


def request_runs(
    releases: Iterable[Release], *, requested_by: str, user: Any = None
) -> list[ValidationRun]:
    """A queued run per release, carried out by ONE task (so a repository shared by several
    releases is listed once)."""
    task_id = str(uuid.uuid4())
    user = user if getattr(user, "pk", None) else None
    with transaction.atomic():
        runs = ValidationRun.objects.bulk_create(
            [
                ValidationRun(
                    release=release,
                    requested_by=requested_by[:200],
                    user=user,
                    task_id=task_id,
                )
                for release in releases
            ]
        )
        run_ids = [run.pk for run in runs]
        if run_ids:
            transaction.on_commit(lambda: enqueue(run_ids, task_id=task_id))
    return runs


def enqueue(run_ids: Sequence[int], *, task_id: str | None = None) -> None:
    """Send the task that carries out these runs, within the validation time limit. One
    quick try: a request must not wait for a broker that is down or hangs; the runs stay
    queued and the stale run recovery sends them again (:func:`recover_stale_runs`)."""
    from .tasks import execute_validation_runs

    limit = int(getattr(settings, "REGISTRY_VALIDATION_TIME_LIMIT", 15 * 60))
    options: dict[str, Any] = {
        "task_id": task_id,
        "soft_time_limit": limit,
        "time_limit": limit + 60,
    }
    if execute_validation_runs.app.conf.task_always_eager:
        execute_validation_runs.apply_async((list(run_ids),), **options)
        return
    try:
        publish_once(execute_validation_runs, (list(run_ids),), **options)
    except Exception as exc:
        logger.warning(
            "validation runs %s: not sent to a worker (the stale run recovery sends them "
            "again within %s s): %s",
            list(run_ids),
            getattr(settings, "REGISTRY_VALIDATION_STALE_AFTER", 60),
            exc,
        )


def live_releases() -> QuerySet[Release]:
    """Releases live somewhere: a deployment in progress or deployed."""
    return Release.objects.filter(deployments__status__in=LIVE_STATUSES).distinct().order_by("pk")


def validate_live_releases(*, requested_by: str = SCHEDULE) -> list[ValidationRun]:
    """Queue one run per live release, all carried out by one task (the beat schedule)."""
    return request_runs(live_releases(), requested_by=requested_by)


def validate_release_now(
    release: Release,
    *,
    requested_by: str,
    user: Any = None,
    policy: GitPolicy | None = None,
    package_index: PackageIndex | None = None,
    concurrency: int | None = None,
    clones: CloneCache | None = None,
) -> ValidationRun:
    """Validate ``release`` in this process and return its finished run (``--wait``)."""
    return validate_releases_now(
        [release],
        requested_by=requested_by,
        user=user,
        policy=policy,
        package_index=package_index,
        concurrency=concurrency,
        clones=clones,
    )[0]


def validate_releases_now(
    releases: Iterable[Release],
    *,
    requested_by: str,
    user: Any = None,
    policy: GitPolicy | None = None,
    package_index: PackageIndex | None = None,
    concurrency: int | None = None,
    progress: Progress | None = None,
    clones: CloneCache | None = None,
) -> list[ValidationRun]:
    """A run per release, carried out together in this process, without Celery. The runs
    are created claimed (one transaction fewer than creating them queued and claiming them)."""
    attempt = uuid.uuid4().hex
    policy = policy or policy_from_settings()
    concurrency = concurrency or int(
        getattr(settings, "REGISTRY_VALIDATION_CONCURRENCY", DEFAULT_CONCURRENCY)
    )
    releases = list(releases)
    with _collector_paused():
        # The listing of the remotes starts first, outside the transaction that creates the
        # runs (which overlaps with it): the remotes of the releases no live run is
        # validating, as the transaction will find them (a release taken meanwhile costs one
        # listing in vain; one released meanwhile has its remotes listed by the gathering).
        listing: _Listing | None = None
        try:
            listing = _start_listing(
                sorted({release.pk for release in releases}),
                policy,
                concurrency,
                held_after=timezone.now(),
            )
        except DatabaseError:
            raise
        except Exception:
            # A setting the URLs need is wrong, say: the gathering meets it again and fails
            # the runs with it.
            logger.debug("listing not started early", exc_info=True)
        runs, claimed = _create_claimed(
            releases,
            requested_by=requested_by,
            user=user if getattr(user, "pk", None) else None,
            attempt=attempt,
        )
        return _carry_out(
            [run.pk for run in runs],
            claimed,
            attempt,
            policy=policy,
            package_index=package_index,
            concurrency=concurrency,
            progress=progress,
            clones=clones,
            listing=listing,
        )


# --- carrying out --------------------------------------------------------------------------


def execute_run(run_id: int, **options: Any) -> ValidationRun:
    """Carry out one run (see :func:`execute_runs`)."""
    return execute_runs([run_id], **options)[0]


def execute_runs(
    run_ids: Sequence[int],
    *,
    policy: GitPolicy | None = None,
    package_index: PackageIndex | None = None,
    concurrency: int | None = None,
    progress: Progress | None = None,
    clones: CloneCache | None = None,
) -> list[ValidationRun]:
    """Carry out these runs together (the task's body); returns them as they ended, in the
    order given. Runs already finished, or running under a live worker, are left as they are
    (idempotent: a task delivered twice does the work once)."""
    attempt = uuid.uuid4().hex
    with _collector_paused():
        return _carry_out(
            run_ids,
            _claim(run_ids, attempt),
            attempt,
            policy=policy,
            package_index=package_index,
            concurrency=concurrency,
            progress=progress,
            clones=clones,
        )


def _carry_out(
    run_ids: Sequence[int],
    claimed: list[ValidationRun],
    attempt: str,
    *,
    policy: GitPolicy | None,
    package_index: PackageIndex | None,
    concurrency: int | None,
    progress: Progress | None,
    clones: CloneCache | None,
    listing: _Listing | None = None,
) -> list[ValidationRun]:
    """Gather and record the runs claimed under ``attempt``; every one of ``run_ids`` as it
    ended."""
    failed = False
    if claimed:
        owned_index = package_index is None
        try:
            if owned_index:
                package_index = package_index_from_settings()
            with _heartbeat([run.pk for run in claimed], attempt):
                gathered = _gather(
                    claimed,
                    policy=policy or policy_from_settings(),
                    package_index=package_index,
                    concurrency=concurrency
                    or int(
                        getattr(settings, "REGISTRY_VALIDATION_CONCURRENCY", DEFAULT_CONCURRENCY)
                    ),
                    clones=clones,
                    listing=listing,
                )
                claimed = _record(claimed, gathered, attempt, progress)
        except TRANSIENT_ERRORS:
            _release(claimed, attempt)
            raise
        except SoftTimeLimitExceeded:
            failed = True
            limit = getattr(settings, "REGISTRY_VALIDATION_TIME_LIMIT", None)
            fail_runs(
                [run.pk for run in claimed],
                f"the run took longer than its time limit ({limit} s, "
                "REGISTRY_VALIDATION_TIME_LIMIT) and was stopped",
                attempt=attempt,
            )
        except Exception as error:
            failed = True
            logger.exception("validation runs %s failed", [run.pk for run in claimed])
            fail_runs(
                [run.pk for run in claimed], f"{type(error).__name__}: {error}", attempt=attempt
            )
        finally:
            if owned_index and package_index is not None:
                package_index.close()
    # The runs this call finished are as they ended in memory: read only the others.
    ended = {} if failed else {run.pk: run for run in claimed if run.finished}
    others = [run_id for run_id in run_ids if run_id not in ended]
    if others:
        ended.update(ValidationRun.objects.select_related("release").in_bulk(others))
    return [ended[run_id] for run_id in run_ids if run_id in ended]


def fail_runs(
    run_ids: Iterable[int],
    message: str,
    *,
    attempt: str | None = None,
    task_id: str | None = None,
) -> int:
    """Mark the unfinished runs among these ``failed`` with ``message`` (and the runs that
    deferred to them, see :func:`_claim`); how many were. With ``attempt``, only the runs
    that execution still owns (another may have taken one over); with ``task_id``, only
    the runs still that task's (:func:`recover_stale_runs` gives a run a new task)."""
    now = timezone.now()
    with transaction.atomic():
        unfinished = ValidationRun.objects.filter(
            pk__any_of=list(run_ids), state__in=(RunState.QUEUED, RunState.RUNNING)
        )
        if attempt is not None:
            unfinished = unfinished.filter(state=RunState.RUNNING, attempt=attempt)
        if task_id is not None:
            unfinished = unfinished.filter(task_id=task_id)
        ids = list(unfinished.values_list("pk", flat=True))
        if not ids:
            return 0
        ValidationRun.objects.filter(pk__any_of=ids).update(
            state=RunState.FAILED, error=message[:2000], finished_at=now
        )
        ValidationRun.objects.filter(superseded_by__any_of=ids, state=RunState.DONE).update(
            state=RunState.FAILED,
            finished_at=now,
            error=Concat(
                Value("validation run #"),
                Cast("superseded_by_id", CharField()),
                Value(", which was validating this release, failed: " + message[:1800]),
            ),
        )
    return len(ids)


def _stale_before(now: datetime) -> datetime:
    """A run whose worker gave no sign of life since this moment is taken to be dead."""
    return now - timedelta(seconds=float(getattr(settings, "REGISTRY_VALIDATION_STALE_AFTER", 60)))


def _alive(now: datetime) -> Q:
    """Running runs whose worker said it was alive recently (a run claimed before runs had a
    heartbeat: started recently)."""
    cutoff = _stale_before(now)
    return Q(state=RunState.RUNNING) & (
        Q(heartbeat_at__gte=cutoff) | Q(heartbeat_at__isnull=True, started_at__gte=cutoff)
    )


def _is_alive(run: ValidationRun, now: datetime) -> bool:
    """:func:`_alive` for a run in memory."""
    seen = run.heartbeat_at or run.started_at
    return run.state == RunState.RUNNING and seen is not None and seen >= _stale_before(now)


def _claim(run_ids: Sequence[int], attempt: str) -> list[ValidationRun]:
    """Queued runs (and running ones whose worker died) become running under ``attempt``.

    A run whose release another live run (outside this call) is validating is *superseded*:
    it ends ``done``, ``superseded_by`` that run, and takes its results when that run ends (a
    user who asked to validate the release gets the validation that was under way, not a
    failure). A running run whose worker is alive is left to it (the same task delivered
    twice)."""
    wanted = list(dict.fromkeys(run_ids))
    now = timezone.now()
    with transaction.atomic():
        # The releases of the runs locked, in pk order (every writer of a release locks it
        # first): concurrent claims of the same release queue here, and the later one sees
        # the earlier one running.
        release_ids = list(
            Release.objects.select_for_update()
            .filter(
                pk__in=ValidationRun.objects.filter(
                    pk__any_of=wanted, state__in=(RunState.QUEUED, RunState.RUNNING)
                ).values("release_id")
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not release_ids:
            return []
        # Every live run of these releases, and the wanted runs not finished, in one read.
        rows = list(
            ValidationRun.objects.select_for_update(of=("self",))
            .select_related("release", "user")
            .filter(
                Q(pk__any_of=wanted, state__in=(RunState.QUEUED, RunState.RUNNING))
                | (Q(release_id__any_of=release_ids) & _alive(now))
            )
            .order_by("pk")
        )
        holders = {run.release_id: run.pk for run in rows if run.pk not in wanted}
        claimed: list[ValidationRun] = []
        superseded: list[ValidationRun] = []
        for run in rows:
            if run.pk not in wanted:
                continue
            if _is_alive(run, now):
                continue  # its worker is alive and at it
            holder = holders.get(run.release_id)
            if holder is not None:
                run.state, run.finished_at, run.superseded_by_id = RunState.DONE, now, holder
                superseded.append(run)
                continue
            # Two runs of one release in one call: the first does the work.
            holders[run.release_id] = run.pk
            run.state, run.attempt, run.heartbeat_at = RunState.RUNNING, attempt, now
            run.started_at = run.started_at or now
            claimed.append(run)
        if superseded:
            _update_rows(ValidationRun, superseded, ("state", "finished_at", "superseded_by"))
        if claimed:
            ValidationRun.objects.filter(pk__any_of=[run.pk for run in claimed]).update(
                state=RunState.RUNNING,
                attempt=attempt,
                heartbeat_at=now,
                started_at=Coalesce("started_at", now),
            )
    return claimed


def _create_claimed(
    releases: Sequence[Release],
    *,
    requested_by: str,
    user: Any,
    attempt: str,
) -> tuple[list[ValidationRun], list[ValidationRun]]:
    """A run per release, created as :func:`_claim` would leave it: running under
    ``attempt``, or superseded by a live run of its release. Every run, and the claimed."""
    now = timezone.now()
    with transaction.atomic():
        release_ids = sorted({release.pk for release in releases})
        list(
            Release.objects.select_for_update()
            .filter(pk__any_of=release_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        holders = dict(
            ValidationRun.objects.filter(Q(release_id__any_of=release_ids) & _alive(now))
            .order_by("pk")
            .values_list("release_id", "pk")
        )
        claimed: list[ValidationRun] = []
        later: list[ValidationRun] = []  # a release named twice: superseded by its first run
        runs: list[ValidationRun] = []
        first_runs: set[int] = set()
        for release in releases:
            run = ValidationRun(
                release=release, requested_by=requested_by[:200], user=user, queued_at=now
            )
            runs.append(run)
            holder = holders.get(release.pk)
            if holder is not None:
                run.state, run.finished_at, run.superseded_by_id = RunState.DONE, now, holder
            elif release.pk in first_runs:
                run.state, run.finished_at = RunState.DONE, now
                later.append(run)
            else:
                run.state, run.attempt, run.heartbeat_at = RunState.RUNNING, attempt, now
                run.started_at = now
                claimed.append(run)
                first_runs.add(release.pk)
        _insert_runs([run for run in runs if run not in later])
        if later:
            by_release = {run.release_id: run.pk for run in claimed}
            for run in later:
                run.superseded_by_id = by_release[run.release_id]
            ValidationRun.objects.bulk_create(later)
    return runs, claimed


def _insert_runs(runs: Sequence[ValidationRun]) -> None:
    """``bulk_create`` these runs (their ids set). On PostgreSQL, runs that differ only by
    release (the runs one call claims) are one ``INSERT ... SELECT`` over the release ids,
    every other value sent once: Django's ``bulk_create`` prepares and quotes every value of
    every row, 10 ms of the main thread for 200 runs, while the remotes are being listed."""
    meta = ValidationRun._meta
    release = meta.get_field("release")
    shared = [
        field for field in meta.concrete_fields if not field.primary_key and field is not release
    ]

    def values(run: ValidationRun) -> list[Any]:
        return [getattr(run, field.attname) for field in shared]

    alike = len(runs) > 1 and connection.vendor == "postgresql"
    if alike:
        template = values(runs[0])
        alike = len({run.release_id for run in runs}) == len(runs) and all(
            values(run) == template for run in runs
        )
    if not alike:
        ValidationRun.objects.bulk_create(runs)
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in [*shared, release])
    marks = ", ".join(f"CAST(%s AS {field.db_type(connection)})" for field in shared)
    table, key = quote(meta.db_table), quote(str(meta.pk.column))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}) "  # noqa: S608 - names from the model
            f"SELECT {marks}, release FROM unnest(%s::bigint[]) AS given(release) "
            f"RETURNING {key}, {quote(str(release.column))}",
            [
                field.get_db_prep_save(value, connection)
                for field, value in zip(shared, template, strict=True)
            ]
            + [[run.release_id for run in runs]],
        )
        ids = {release_id: pk for pk, release_id in cursor.fetchall()}
    for run in runs:
        run.pk = ids[run.release_id]
        run._state.adding, run._state.db = False, connection.alias


def _release(runs: Sequence[ValidationRun], attempt: str) -> None:
    """Give runs back to the queue (their task retries): best effort, the stale run recovery
    does it otherwise."""
    try:
        ValidationRun.objects.filter(
            pk__any_of=[run.pk for run in runs], state=RunState.RUNNING, attempt=attempt
        ).update(state=RunState.QUEUED, attempt="")
    except TRANSIENT_ERRORS:
        logger.warning("validation runs %s not given back to the queue", [r.pk for r in runs])


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while runs are carried out.

    A run keeps a few objects per pin until it is recorded (tens of thousands for hundreds
    of releases). While it is collecting, the collector's young collections keep finding them
    alive and promoting them, and every run or two that sets off a full collection of the
    whole process (over 100,000 objects in a Django process, 90-140 ms measured): it holds
    the interpreter, so the listing's threads stop halfway through the fan-out, and the run
    takes a third longer. What a run makes is freed by reference counting as usual; cyclic
    garbage made meanwhile, by any thread, waits for the first collection after the run.
    The collector is switched back on only if it was on when the runs began.

    What the run made and keeps (its runs' results: thousands of small lists and dicts) is
    then moved to the oldest generation at once (``freeze`` then ``unfreeze``), where full
    collections look at it as at the rest of the process: switched on as it is, the
    collector would start a young collection at the first allocation after the run (all
    the run's allocations count), traversing all of it, 3-4 ms here, and again as it ages.
    Not where objects are frozen already (they would be unfrozen with them)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # Not in a process that froze objects on purpose (a preforking server's
            # preloaded application, config/gunicorn.py): unfreezing would release them.
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()


@contextmanager
def _heartbeat(run_ids: Sequence[int], attempt: str) -> Iterator[None]:
    """While the body runs, say every ``REGISTRY_VALIDATION_HEARTBEAT`` seconds that these
    runs' worker is alive (from a thread of its own, with its own connection; a run shorter
    than one interval writes nothing)."""
    interval = float(getattr(settings, "REGISTRY_VALIDATION_HEARTBEAT", 20))
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                ValidationRun.objects.filter(
                    pk__any_of=list(run_ids), state=RunState.RUNNING, attempt=attempt
                ).update(heartbeat_at=timezone.now())
        except Exception:
            logger.exception("validation runs %s: heartbeat stopped", list(run_ids))
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name="validation-heartbeat", daemon=True)
    if interval > 0:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread.is_alive():
            thread.join()


def recover_stale_runs() -> list[int]:
    """Send again the runs whose worker died: queued runs whose task was never carried out
    and running runs whose worker stopped saying it is alive, for
    ``REGISTRY_VALIDATION_STALE_AFTER`` seconds. One task for all of them; its claim takes a
    run over only if its worker is still silent. The ids of the runs sent again."""
    now = timezone.now()
    cutoff = _stale_before(now)
    stale = Q(state__in=(RunState.QUEUED, RunState.RUNNING)) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, queued_at__lt=cutoff)
    )
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        run_ids = list(
            ValidationRun.objects.select_for_update(skip_locked=True)
            .filter(stale)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not run_ids:
            return []
        # Running ones go back to the queue: the worker that held them is gone.
        ValidationRun.objects.filter(pk__in=run_ids).update(
            state=RunState.QUEUED, attempt="", heartbeat_at=now, task_id=task_id
        )
        transaction.on_commit(lambda: enqueue(run_ids, task_id=task_id))
    logger.warning("validation runs %s sent again (their worker died or never came)", run_ids)
    return run_ids


@dataclass(slots=True)
class _Stored:
    """A stored pin as a run reads it (plain values: no model instance per pin)."""

    pk: int
    release_id: int
    name: str
    git_url: str
    package_name: str
    tag: str
    commit_sha: str | None
    package_version: str | None
    url: str
    previous_commit_sha: str | None
    findings: list[dict[str, Any]]
    validation_state: str


@dataclass(slots=True)
class _Judged:
    """A pin as read and judged: what recording needs of the run's result (the pin's place in
    its release, its online findings, the commit its tag resolves to); the findings and state
    it gives the pin (:func:`releases.pin_state.with_online_findings`) and whether they are
    new; and the pin's entry in its run's ``results``, and that entry as JSON (what the run's
    row stores). Kept for every pin until the run is recorded, so it holds little more than
    that: the check and the full result are made again only for the rare pin that needs
    them (:meth:`result`)."""

    stored: _Stored
    index: int
    online: tuple[Finding, ...]
    resolved_sha: str | None
    reached: bool
    findings: list[dict[str, Any]]
    state: str
    changed: bool
    entry: dict[str, Any]
    entry_json: str

    def result(self, urls: _Urls) -> PinResult:
        """The run's result for this pin, again."""
        check = _to_check(self.index, self.stored, urls)
        return PinResult(check, self.online, self.resolved_sha, self.reached)


_VALID = str(ValidationState.VALID)


def _judged(pin: _Stored, index: int, result: PinResult) -> _Judged:
    """What ``result`` makes of ``pin``, at ``index`` in its release."""
    if not pin.findings and not result.findings:
        # A clean pin found clean (most pins of most runs): what with_online_findings makes
        # of it, without building anything.
        findings, state = pin.findings, _VALID
    else:
        findings, state = with_online_findings(
            pin.findings,
            [finding.as_dict() for finding in result.findings] if result.findings else (),
        )
    changed = state != pin.validation_state or findings != pin.findings
    if not changed:
        findings = pin.findings  # the same values: one list
    entry = _result_entry(index, pin.name, state, result.resolved_sha, findings)
    return _Judged(
        pin,
        index,
        result.findings,
        result.resolved_sha,
        result.reached,
        findings,
        state,
        changed,
        entry,
        _entry_json(entry),
    )


# A run's results as JSON, written once per run of every release (and on PostgreSQL parsed
# into ``jsonb``, which keeps neither spaces nor key order): without spaces, keys sorted, so
# that the same results are the same text wherever their findings were read from (the
# digest that finds an earlier run with the same results hashes it). One encoder for all
# (``json.dumps`` with options builds one per call).
_compact_json = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode
_json_string = json.encoder.encode_basestring_ascii  # what the encoder does to a string


def _entry_json(entry: dict[str, Any]) -> str:
    """:func:`_compact_json` of a pin's entry in its run's results (:func:`_result_entry`),
    written out directly when it has no findings (most pins): the same text, at a fifth of
    the cost, for thousands of pins judged while the remotes are listed."""
    if entry["findings"]:
        return _compact_json(entry)
    commit = entry["commit"]
    return (
        f'{{"commit":{"null" if commit is None else _json_string(commit)},"findings":[],'
        f'"path":{_json_string(entry["path"])},"repository":{_json_string(entry["repository"])},'
        f'"state":{_json_string(entry["state"])}}}'
    )


def _result_entry(
    index: int, name: str, state: str, commit: str | None, findings: list[dict[str, Any]]
) -> dict[str, Any]:
    """A pin's entry in its run's ``results`` (see :class:`ValidationRun`); ``findings`` is
    not copied (no one changes a pin's findings in place)."""
    return {
        "repository": name,
        "path": f"repositories[{index}]",
        "state": state,
        "commit": commit,
        "findings": findings,
    }


@dataclass
class _Gathered:
    """Every pin of the claimed runs' releases as read, judged; each release's revision
    when it was read (recording trusts the read while the revision is the same); and the
    runs of those releases that wrote results, by release and digest (read while the
    remotes were being listed: :func:`_finish` copies their results)."""

    pins: dict[int, list[_Judged]]
    revisions: dict[int, int]
    earlier: dict[tuple[int, str], int]


class _Urls:
    """:func:`pin_url` once per distinct (name, URL, repository URL)."""

    def __init__(self) -> None:
        self.template = getattr(settings, "REGISTRY_GIT_URL_TEMPLATE", None)
        self.known: dict[tuple[str, str, str], str | None] = {}

    def __call__(self, name: str, url: str, git_url: str) -> str | None:
        key = (name, url, git_url)
        if key not in self.known:
            self.known[key] = pin_url(
                name, url=url or None, git_url=git_url or None, template=self.template
            )
        return self.known[key]


def _to_check(index: int, pin: _Stored, urls: _Urls) -> PinToCheck:
    return PinToCheck(
        index=index,
        name=pin.name,
        tag=pin.tag,
        commit_sha=pin.commit_sha,
        package_version=pin.package_version,
        url=urls(pin.name, pin.url, pin.git_url),
        package_name=pin.package_name or None,
    )


def _read_pins(release_ids: Sequence[int], *, lock: bool = False) -> list[tuple[_Stored, int]]:
    """The pins of these releases in release order, each with its release's revision.

    The ORM compiles the query; its rows are taken as the database sends them (Django's
    per-row machinery cost more than the rest of reading thousands of pins) and the
    findings' JSON decoded here (``[]``, most pins', without the decoder)."""
    pins = RepositoryPin.objects.filter(release_id__any_of=list(release_ids))
    if lock:
        pins = pins.select_for_update(of=("self",))
    query = pins.order_by("release_id", "position", "pk").values_list(
        *_PIN_COLUMNS, "previous_commit_sha", "findings", "validation_state", "release__revision"
    )
    sql, params = query.query.get_compiler(query.db).as_sql()
    with connections[query.db].cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        (
            _Stored(
                pk, release_id, name, git_url, package_name, tag, commit_sha, package_version,
                url, previous, [] if findings == "[]" else json.loads(findings), state,
            ),
            revision,
        )
        for (
            pk, release_id, name, git_url, package_name, tag, commit_sha, package_version, url,
            previous, findings, state, revision,
        ) in rows
    ]  # fmt: skip


@dataclass
class _Listing:
    """The listing of some releases' remotes, under way: each answer as it comes."""

    urls: _Urls
    answers: Iterator[tuple[str, RemoteAnswer]]


def _start_listing(
    release_ids: Sequence[int],
    policy: GitPolicy,
    concurrency: int,
    *,
    held_after: datetime | None = None,
) -> _Listing:
    """Read the distinct remote URLs of these releases' pins (a few rows) and start listing
    them, one ``ls-remote`` each. ``held_after``: leave out the releases a run alive at that
    moment is validating (:func:`_alive`)."""
    urls = _Urls()
    remotes: list[str] = []
    pins = RepositoryPin.objects.filter(release_id__any_of=list(release_ids))
    if held_after is not None:
        pins = pins.exclude(
            release_id__in=ValidationRun.objects.filter(
                Q(release_id__any_of=list(release_ids)) & _alive(held_after)
            ).values("release_id")
        )
    for name, url, git_url in (
        pins.order_by().values_list("repository__name", "url", "repository__git_url").distinct()
    ):
        remote = urls(name, url, git_url)
        if remote is not None and remote not in remotes:
            remotes.append(remote)
    return _Listing(urls, iter_remotes(remotes, policy, concurrency=concurrency))


def _gather(
    runs: Sequence[ValidationRun],
    *,
    policy: GitPolicy,
    package_index: PackageIndex | None,
    concurrency: int,
    clones: CloneCache | None = None,
    listing: _Listing | None = None,
) -> _Gathered:
    """Every pin of these runs' releases read and judged. The remotes' distinct URLs are read
    first (a few rows), and listed while the pins are read; each remote's pins are judged,
    and their findings, state and entry in the run's results computed, as its answer comes
    (the listing of the others goes on meanwhile: what is left when the last one answers is
    that remote's pins). ``listing``: the listing of these releases' remotes, started
    already."""
    release_ids = sorted({run.release_id for run in runs})
    listing = listing or _start_listing(release_ids, policy, concurrency)
    urls, answers_coming = listing.urls, listing.answers
    stored: list[_Stored] = []
    indexes: list[int] = []
    revisions: dict[int, int] = {}
    by_url: dict[str | None, list[int]] = {}
    # Each release's pins are consecutive (read in release order): their first position.
    starts: dict[int, int] = {}
    for pin, revision in _read_pins(release_ids):
        position = len(stored)
        if pin.release_id not in starts:
            starts[pin.release_id] = position
            revisions[pin.release_id] = revision
        by_url.setdefault(urls(pin.name, pin.url, pin.git_url), []).append(position)
        stored.append(pin)
        indexes.append(position - starts[pin.release_id])
    earlier = _written_results(release_ids)
    packages = (
        lookup_packages(
            [_to_check(index, pin, urls) for index, pin in zip(indexes, stored, strict=True)],
            package_index,
            concurrency=concurrency,
        )
        if package_index is not None
        else {}
    )
    judged: list[_Judged | None] = [None] * len(stored)
    answers: dict[str, RemoteAnswer] = {}

    def judge(url: str | None, answer: RemoteAnswer | None) -> None:
        # The same pin in many releases (same repository, tag, commit and package, another
        # place): once found clean on this remote, clean wherever it is. A result with
        # findings is made again for each pin (its findings are located at its place).
        clean: dict[tuple[str, str, str | None, str | None, str], PinResult] = {}
        for position in by_url.pop(url, ()):
            pin = stored[position]
            same = (pin.name, pin.tag, pin.commit_sha, pin.package_version, pin.package_name)
            result = clean.get(same)
            if result is None:
                check = _to_check(indexes[position], pin, urls)
                key = check.package_key
                result = judge_pin(check, answer, packages.get(key) if key else None)
                if not result.findings:
                    clean[same] = result
            judged[position] = _judged(pin, indexes[position], result)

    judge(None, None)
    for url, answer in answers_coming:
        answers[url] = answer
        judge(url, answer)
    if by_url:
        # A pin written between the two reads may name a remote not listed yet.
        for url, answer in iter_remotes([u for u in by_url if u], policy, concurrency=concurrency):
            answers[url] = answer
            judge(url, answer)
    # Every remote was listed (the loops above end with ``by_url`` empty): every pin judged.
    every = cast("list[_Judged]", judged)
    moved = {
        position: pin.previous_commit_sha
        for position, pin in enumerate(stored)
        if pin.previous_commit_sha and pin.commit_sha
        and isinstance(answers.get(str(urls(pin.name, pin.url, pin.git_url))), RemoteTags)
    }  # fmt: skip
    if moved:
        # Their findings may grow: judged again with the backport check's.
        again = _with_backports(
            {position: every[position].result(urls) for position in moved}, moved, clones,
            concurrency,
        )  # fmt: skip
        for position, result in again.items():
            every[position] = _judged(stored[position], indexes[position], result)
    ends = [*list(starts.values())[1:], len(every)]
    return _Gathered(
        {
            release_id: every[start:end]
            for (release_id, start), end in zip(starts.items(), ends, strict=True)
        },
        revisions,
        earlier,
    )


def _written_results(release_ids: Sequence[int]) -> dict[tuple[int, str], int]:
    """The runs of these releases that wrote their results, by release and digest (each
    distinct result of a release has one: a few rows per release)."""
    return {
        (release_id, digest): pk
        for pk, release_id, digest in ValidationRun.objects.filter(
            release_id__any_of=list(release_ids), state=RunState.DONE
        )
        .exclude(results_digest="")
        .order_by()
        .values_list("pk", "release_id", "results_digest")
    }


def _with_backports(
    results: dict[int, PinResult],
    moved: Mapping[int, str | None],
    clones: CloneCache | None,
    concurrency: int,
) -> dict[int, PinResult]:
    """Backport safety for the pins whose commit changed (``moved``: their previous commit
    by position): one cached clone per repository (checks of one repository in turn,
    repositories side by side). Their results, with the check's findings added."""
    cache = clones or clone_cache_from_settings()
    by_url: dict[str, list[tuple[int, str]]] = {}
    for position, previous in moved.items():
        by_url.setdefault(str(results[position].pin.url), []).append((position, str(previous)))

    def check(pairs: list[tuple[int, str]]) -> list[tuple[int, list[Finding]]]:
        return [
            (position, backport_findings(results[position].pin, previous, cache))
            for position, previous in pairs
        ]

    found = dict(results)
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(by_url)))) as pool:
        for answered in pool.map(check, by_url.values()):
            for position, findings in answered:
                if findings:
                    result = found[position]
                    found[position] = replace(result, findings=result.findings + tuple(findings))
    return found


def _record(
    runs: Sequence[ValidationRun],
    gathered: _Gathered,
    attempt: str,
    progress: Progress | None = None,
) -> list[ValidationRun]:
    """Write the results of these runs' releases and finish the runs: one transaction and a
    constant number of queries for all of them, one change (revision bump and
    ``release_changed``) per release whose pins' results changed. Returns the runs this
    execution still owned (a run taken over by another execution is left to it)."""
    now = timezone.now()
    first = runs[0]
    with changes.batch(changes.VALIDATION, user=first.user, actor=first.requested_by) as batch:
        # The releases locked first, in pk order, as every writer of a release locks them
        # (their revisions read), then the runs this execution still owns and the runs
        # that deferred to them (superseded, see _claim). A run taken over by another
        # execution is left to it, and its release untouched. No run can defer to these
        # once their releases are locked.
        run_ids = [run.pk for run in runs]
        revisions = dict(
            Release.objects.select_for_update()
            .filter(pk__any_of=sorted({run.release_id for run in runs}))
            .order_by("pk")
            .values_list("pk", "revision")
        )
        owned: set[int] = set()
        deferring: dict[int, int] = {}
        for pk, deferred_to in (
            ValidationRun.objects.select_for_update(of=("self",))
            .filter(
                Q(pk__any_of=run_ids, state=RunState.RUNNING, attempt=attempt)
                | Q(superseded_by__any_of=run_ids, state=RunState.DONE)
            )
            .order_by("pk")
            .values_list("pk", "superseded_by_id")
        ):
            if deferred_to is None:
                owned.add(pk)
            else:
                deferring[pk] = deferred_to
        runs = [run for run in runs if run.pk in owned]
        # A release written since its pins were read (its revision moved on): read again, and
        # judge only the pins whose values are still the ones judged.
        moved = {
            run.release_id
            for run in runs
            if revisions.get(run.release_id) != gathered.revisions.get(run.release_id)
        }
        reread: dict[int, list[_Stored]] = {}
        for pin, _ in _read_pins(sorted(moved), lock=True) if moved else ():
            reread.setdefault(pin.release_id, []).append(pin)
        whole = [run.release_id for run in runs if run.release_id not in moved]
        with _pipelined() as sync:
            # The time of the check is every judged pin's (no history record: only it is
            # new). Sent first: the database writes it while the results are put together.
            _set_validated_at("release", whole, now)
            changed: dict[int, _Stored] = {}
            results_json: dict[int, str] = {}
            no_counts = empty_counts()
            refreshed: list[int] = []
            for run in runs:
                if run.release_id in moved:
                    pins = _still_judged(reread.get(run.release_id, []), gathered, run.release_id)
                    refreshed.extend(pin.pk for pin, entry in pins if entry is not None)
                    changed_here, results_json[run.pk] = _judge_stored(run, pins)
                else:
                    changed_here, results_json[run.pk] = _take_judged(
                        run, gathered.pins.get(run.release_id, []), no_counts
                    )
                if changed_here:
                    with batch.attributed(
                        changes.VALIDATION, user=run.user, actor=run.requested_by
                    ):
                        batch.report(
                            run.release_id,
                            version=run.release.version,
                            pins=changes.RowChanges(
                                changed=tuple(pin.name for pin in changed_here)
                            ),
                            findings_checked=True,
                        )
                    changed.update((pin.pk, pin) for pin in changed_here)
                run.finished_at = now
                if progress is not None:
                    progress(run.release.version)
            _set_validated_at("id", refreshed, now)
            if changed:
                _update_rows(
                    RepositoryPin, list(changed.values()), ("findings", "validation_state")
                )
                changes.record_history(RepositoryPin, sorted(changed))
            _finish(runs, results_json, now, gathered.earlier, sync)
        _pass_on(
            [pk for pk, deferred_to in deferring.items() if deferred_to in owned],
        )
    return runs


@contextmanager
def _pipelined() -> Iterator[Callable[[], None]]:
    """Statements sent inside are carried out by the database while this process goes on
    (PostgreSQL's pipeline mode: a statement's answer is read only when needed, at the end
    or at ``sync()``, which the block yields); elsewhere each as it is sent. An error of a
    statement is raised at the latest when the block ends."""
    if connection.vendor != "postgresql":
        yield lambda: None
        return
    # The errors met at a sync or at the end are psycopg's own: made Django's (a deadlock
    # an OperationalError, a transient error the task retries), as a statement's are.
    with connection.wrap_database_errors, connection.connection.pipeline() as pipeline:
        yield pipeline.sync


def _set_validated_at(name: str, values: Sequence[int], now: datetime) -> None:
    """``validated_at = now`` for the pins whose field ``name`` (``release`` or ``id``) is
    one of ``values``; sent as a plain statement (in :func:`_pipelined`, Django's
    ``update()`` would wait for its row count)."""
    if not values:
        return
    query = RepositoryPin.objects.filter(**{f"{name}__any_of": list(values)}).query
    where, params = query.get_compiler(connection.alias).compile(query.where)
    meta = RepositoryPin._meta
    quote = connection.ops.quote_name
    stamped = meta.get_field("validated_at")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} "  # noqa: S608 - model names
            f"SET {quote(str(stamped.column))} = %s WHERE {where}",
            [stamped.get_db_prep_save(now, connection), *params],
        )


def _still_judged(
    pins: Sequence[_Stored], gathered: _Gathered, release_id: int
) -> list[tuple[_Stored, _Judged | None]]:
    """The pins of a release written since they were read, each with its judgement when its
    values are still the ones judged (else ``None``: its result was about values it no longer
    has); the judgement's findings and state recomputed from the pin's findings now."""
    judged = {entry.stored.pk: entry for entry in gathered.pins.get(release_id, [])}
    urls = _Urls()
    out: list[tuple[_Stored, _Judged | None]] = []
    for index, pin in enumerate(pins):
        entry = judged.get(pin.pk)
        if (
            entry is not None
            and _to_check(entry.index, entry.stored, urls) == _to_check(index, pin, urls)
            and entry.stored.previous_commit_sha == pin.previous_commit_sha
        ):
            out.append((pin, _judged(pin, index, entry.result(urls))))
        else:
            out.append((pin, None))
    return out


def _finish(
    runs: Sequence[ValidationRun],
    results_json: dict[int, str],
    finished_at: datetime,
    earlier: Mapping[tuple[int, str], int],
    sync: Callable[[], None] = lambda: None,
) -> None:
    """Store the runs as done at ``finished_at``, with their counts and results.
    ``results_json``: each run's results as JSON, joined from its entries serialised as
    their pins were judged (so no JSON of thousands of entries is encoded after the last
    answer).

    Results the same as ones a run of the release wrote before (nothing changed since: the
    common case) are copied from that run's row by the database, not sent and parsed again
    (on PostgreSQL, 200 runs of 20 pins took 20 ms to send, parse and store, 3 ms to copy).
    ``earlier``: those runs, by release and digest, read while the remotes were listed
    (:func:`_written_results`); one that has gone since (deleted) is not copied from, the
    results are written instead. A run that writes results keeps their digest
    (``results_digest``), so each distinct result of a release has one such run; one that
    copies them keeps none."""
    if not runs:
        return
    digests = {
        run.pk: hashlib.blake2b(results_json[run.pk].encode(), digest_size=16).hexdigest()
        for run in runs
    }
    done = {"state": RunState.DONE, "finished_at": finished_at}
    copying: list[tuple[ValidationRun, int]] = []
    writing: list[ValidationRun] = []
    for run in runs:
        source = earlier.get((run.release_id, digests[run.pk]))
        if source is None:
            writing.append(run)
        else:
            copying.append((run, source))
    if copying and _copy_results(copying, finished_at, sync) < len(copying):
        # A run copied from was deleted since it was read: those runs are still running.
        left = set(
            ValidationRun.objects.filter(
                pk__any_of=[run.pk for run, _ in copying], state=RunState.RUNNING
            ).values_list("pk", flat=True)
        )
        writing += [run for run, _ in copying if run.pk in left]
    _update_rows(
        ValidationRun,
        writing,
        ("counts", "results_digest", "results"),
        given={
            "results_digest": lambda run: digests[run.pk],
            "results": lambda run: results_json[run.pk],
        },
        same=done,
    )


def _copy_results(
    copying: Sequence[tuple[ValidationRun, int]], finished_at: datetime, sync: Callable[[], None]
) -> int:
    """Finish each run with the counts and results of the run paired with it (one that
    wrote the same results), copied by the database; how many were (a run whose source has
    gone is left as it is). On PostgreSQL one statement over two arrays of ids; elsewhere
    one statement run for each run."""
    meta = ValidationRun._meta
    quote = connection.ops.quote_name
    table, key = quote(meta.db_table), quote(str(meta.pk.column))
    state, finished, counts, results = (
        quote(str(meta.get_field(name).column))  # type: ignore[union-attr]
        for name in ("state", "finished_at", "counts", "results")
    )
    finished_field: Field[Any, Any] = meta.get_field("finished_at")
    stamp = finished_field.get_db_prep_save(finished_at, connection)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET {state} = %s, {finished} = %s, "  # noqa: S608 - model names
                f"{counts} = source.{counts}, {results} = source.{results} "
                f"FROM unnest(%s::bigint[], %s::bigint[]) AS copied(run, source_run) "
                f"JOIN {table} AS source ON source.{key} = copied.source_run "
                f"WHERE {table}.{key} = copied.run",
                [
                    RunState.DONE.value,
                    stamp,
                    [run.pk for run, _ in copying],
                    [source for _, source in copying],
                ],
            )
            sync()
            return int(cursor.rowcount)
        cursor.executemany(
            f"UPDATE {table} SET {state} = %s, {finished} = %s, "  # noqa: S608 - model names
            f"{counts} = (SELECT source.{counts} FROM {table} AS source WHERE source.{key} = %s), "
            f"{results} = (SELECT source.{results} FROM {table} AS source "
            f"WHERE source.{key} = %s) "
            f"WHERE {key} = %s "
            f"AND EXISTS (SELECT 1 FROM {table} AS source WHERE source.{key} = %s)",
            [
                [RunState.DONE.value, stamp, source, source, run.pk, source]
                for run, source in copying
            ],
        )
        return int(cursor.rowcount)


def _pass_on(deferring: Sequence[int]) -> None:
    """The runs that deferred to runs just finished take their counts and results."""
    if deferring:
        holder = ValidationRun.objects.filter(pk=OuterRef("superseded_by_id"))
        ValidationRun.objects.filter(pk__any_of=list(deferring)).update(
            counts=Subquery(holder.values("counts")), results=Subquery(holder.values("results"))
        )


def _update_rows(
    model: type[Model],
    rows: Sequence[_M],
    names: Sequence[str],
    *,
    given: Mapping[str, Callable[[Any], Any]] | None = None,
    same: Mapping[str, Any] | None = None,
) -> None:
    """Write these fields of these rows, each row its own values, in one statement.

    Django's ``bulk_update`` builds a CASE per field and row, which takes seconds of Python
    for thousands of pins. On PostgreSQL: one ``UPDATE ... FROM (VALUES ...)``, planned once
    (an ``executemany`` has the server parse and plan each row's statement: two to three
    times slower for thousands of rows); elsewhere (SQLite, in the process) one statement
    run for every row with ``executemany``. ``given``: fields whose value is not the row's
    attribute, by the function that gives it as the database takes it (JSON already
    encoded); ``same``: fields given one value for every row."""
    if not rows:
        return
    given = given or {}
    same = same or {}
    meta = model._meta
    fields: list[Field[Any, Any]] = [meta.get_field(name) for name in names]  # type: ignore[misc]
    shared: list[Field[Any, Any]] = [meta.get_field(name) for name in same]  # type: ignore[misc]
    shared_values = [field.get_db_prep_save(same[field.name], connection) for field in shared]
    pk = meta.pk
    quote = connection.ops.quote_name
    parameters = [
        [
            given[field.name](row)
            if field.name in given
            else field.get_db_prep_save(getattr(row, field.attname), connection)
            for field in fields
        ]
        + [row.pk]
        for row in rows
    ]
    table, key = quote(meta.db_table), quote(str(pk.column))
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            assignments = ", ".join(
                f"{quote(str(field.column))} = %s" for field in [*shared, *fields]
            )
            cursor.executemany(
                f"UPDATE {table} SET {assignments} WHERE {key} = %s",  # noqa: S608 - model names
                [shared_values + row for row in parameters],
            )
            return
        types = [field.db_type(connection) for field in fields] + [pk.db_type(connection)]
        values = [f"v{number}" for number in range(len(types))]
        row_marks = "(" + ", ".join(f"CAST(%s AS {db_type})" for db_type in types) + ")"
        assignments = ", ".join(
            [
                f"{quote(str(field.column))} = CAST(%s AS {field.db_type(connection)})"
                for field in shared
            ]
            + [
                f"{quote(str(field.column))} = v.{value}"
                for field, value in zip(fields, values, strict=False)
            ]
        )
        # At most 65,535 parameters a statement (the protocol's limit with server-side binding).
        size = max(1, (65535 - len(shared)) // len(types))
        for start in range(0, len(parameters), size):
            some = parameters[start : start + size]
            cursor.execute(
                f"UPDATE {table} SET {assignments} "  # noqa: S608 - names from the model
                f"FROM (VALUES {', '.join([row_marks] * len(some))}) "
                f"AS v({', '.join(values)}) WHERE {table}.{key} = v.{values[-1]}",
                shared_values + [value for row in some for value in row],
            )


def _take_judged(
    run: ValidationRun, entries: Sequence[_Judged], no_counts: dict[str, int]
) -> tuple[list[_Stored], str]:
    """:func:`_judge_stored` for a release not written since its pins were read (nearly
    always): every pin judged as read, its entry in the results made as it was judged.
    ``no_counts``: :func:`empty_counts`, made once for all runs."""
    counts = no_counts.copy()
    changed: list[_Stored] = []
    for entry in entries:
        counts[entry.state] = counts.get(entry.state, 0) + 1
        if entry.changed:
            pin = entry.stored
            pin.findings, pin.validation_state = entry.findings, entry.state
            changed.append(pin)
    run.state = RunState.DONE
    run.counts = counts
    run.results = [entry.entry for entry in entries]
    return changed, "[" + ",".join([entry.entry_json for entry in entries]) + "]"


def _judge_stored(
    run: ValidationRun, pins: Iterable[tuple[_Stored, _Judged | None]]
) -> tuple[list[_Stored], str]:
    """Give the stored pins of one release their judgements (``None``: not judged, the pin
    stays as it is) and fill the run's state, counts and results; the pins whose findings or
    state changed, and the results as JSON."""
    changed: list[_Stored] = []
    results: list[dict[str, Any]] = []
    texts: list[str] = []
    counts = empty_counts()
    for index, (pin, entry) in enumerate(pins):
        if entry is None:
            row = _result_entry(index, pin.name, pin.validation_state, None, pin.findings)
            results.append(row)
            texts.append(_compact_json(row))
        else:
            if entry.changed:
                pin.findings, pin.validation_state = entry.findings, entry.state
                changed.append(pin)
            results.append(entry.entry)
            texts.append(entry.entry_json)
        counts[pin.validation_state] = counts.get(pin.validation_state, 0) + 1
    run.state = RunState.DONE
    run.counts = counts
    run.results = results
    return changed, "[" + ",".join(texts) + "]"


# --- reading -------------------------------------------------------------------------------


def latest_run(release: Release, *, finished: bool = True) -> ValidationRun | None:
    """The release's newest run (the newest finished one by default)."""
    runs = ValidationRun.objects.filter(release=release)
    if finished:
        # A superseded run has no results of its own: the run it deferred to is the one.
        runs = runs.filter(state=RunState.DONE, superseded_by__isnull=True)
    return runs.order_by("-queued_at", "-pk").first()


def errors_found(runs: Iterable[ValidationRun]) -> bool:
    """Whether any run failed or found an invalid or unreachable pin."""
    return any(run.errors_found for run in runs)


__all__ = [
    "LIVE_STATUSES",
    "SCHEDULE",
    "TRANSIENT_ERRORS",
    "enqueue",
    "errors_found",
    "execute_run",
    "execute_runs",
    "fail_runs",
    "latest_run",
    "live_releases",
    "request_run",
    "request_runs",
    "validate_live_releases",
    "validate_release_now",
    "validate_releases_now",
]
