"""Validation runs: ask for one (a row, then a task after commit), carry it out, record it.

A run is carried out in three steps:

1. **claim** (one short transaction, the releases locked): queued runs become ``running``;
   a run whose release another live run is validating is skipped (it ends ``failed`` and
   says which run holds the release), so two runs of one release never both write; a run
   already finished is left alone (a task delivered twice does nothing the second time).
2. **gather** (no transaction): one ``ls-remote`` per distinct repository URL of every pin of
   every claimed run together, at bounded concurrency, and one package index lookup per
   distinct package version; then every pin is judged from those answers
   (:mod:`releases.validation.online`).
3. **record**, all releases of the call in ONE ``changes.batch(changes.VALIDATION, ...)``
   (one transaction, the releases locked, a constant number of queries however many
   releases and pins): each pin's online findings replace its earlier ones
   (:func:`releases.pin_state.apply_online_findings`), the pins whose findings or state
   changed are written in bulk with history, the rest get a new ``validated_at`` in one
   UPDATE (no history: only the time of the check is new); each run becomes ``done`` with
   its counts and results. The batch bumps the revision of each release whose pins' results
   changed once and sends one ``release_changed`` for it (source ``"validation"``, actor the
   run's ``requested_by``). A pin whose tag, commit, URL or package version changed since it
   was judged is not written (its result was about values it no longer has).

Anything unexpected marks the claimed runs ``failed`` with the reason; transient database
errors propagate, so the Celery task retries them with backoff.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Field, Model, QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from registry.git.policy import GitPolicy, policy_from_settings
from registry.git.urls import pin_url
from releases import changes
from releases.models import LIVE_STATUSES, Release, RepositoryPin
from releases.pin_state import with_online_findings

from .checks import PinResult, PinToCheck
from .models import RunState, ValidationRun, empty_counts
from .online import DEFAULT_CONCURRENCY, validate_pins
from .package_index import PackageIndex, package_index_from_settings

logger = logging.getLogger(__name__)

#: Errors worth another try (a database restarting, a deadlock victim): the task retries them.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)
SCHEDULE = "schedule"

Progress = Callable[[str], None]


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
    """Send the task that carries out these runs, within the validation time limit."""
    from .tasks import execute_validation_runs

    limit = int(getattr(settings, "REGISTRY_VALIDATION_TIME_LIMIT", 15 * 60))
    execute_validation_runs.apply_async(
        (list(run_ids),), task_id=task_id, soft_time_limit=limit, time_limit=limit + 60
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
) -> ValidationRun:
    """Validate ``release`` in this process and return its finished run (``--wait``)."""
    return validate_releases_now(
        [release],
        requested_by=requested_by,
        user=user,
        policy=policy,
        package_index=package_index,
        concurrency=concurrency,
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
) -> list[ValidationRun]:
    """A run per release, carried out together in this process, without Celery."""
    user = user if getattr(user, "pk", None) else None
    runs = ValidationRun.objects.bulk_create(
        [
            ValidationRun(release=release, requested_by=requested_by[:200], user=user)
            for release in releases
        ]
    )
    return execute_runs(
        [run.pk for run in runs],
        policy=policy,
        package_index=package_index,
        concurrency=concurrency,
        progress=progress,
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
) -> list[ValidationRun]:
    """Carry out these runs together (the task's body); returns them as they ended, in the
    order given. Runs already finished are left as they are (idempotent)."""
    claimed = _claim(run_ids)
    if claimed:
        owned_index = package_index is None
        try:
            if owned_index:
                package_index = package_index_from_settings()
            judged = _gather(
                claimed,
                policy=policy or policy_from_settings(),
                package_index=package_index,
                concurrency=concurrency
                or int(getattr(settings, "REGISTRY_VALIDATION_CONCURRENCY", DEFAULT_CONCURRENCY)),
            )
            _record(claimed, judged, progress)
        except TRANSIENT_ERRORS:
            raise
        except SoftTimeLimitExceeded:
            limit = getattr(settings, "REGISTRY_VALIDATION_TIME_LIMIT", None)
            fail_runs(
                [run.pk for run in claimed],
                f"the run took longer than its time limit ({limit} s, "
                "REGISTRY_VALIDATION_TIME_LIMIT) and was stopped",
            )
        except Exception as error:
            logger.exception("validation runs %s failed", [run.pk for run in claimed])
            fail_runs([run.pk for run in claimed], f"{type(error).__name__}: {error}")
        finally:
            if owned_index and package_index is not None:
                package_index.close()
    found = ValidationRun.objects.select_related("release").in_bulk(list(run_ids))
    return [found[run_id] for run_id in run_ids if run_id in found]


def fail_runs(run_ids: Iterable[int], message: str) -> int:
    """Mark the unfinished runs among these ``failed`` with ``message``; how many were."""
    return ValidationRun.objects.filter(
        pk__in=list(run_ids), state__in=(RunState.QUEUED, RunState.RUNNING)
    ).update(state=RunState.FAILED, error=message[:2000], finished_at=timezone.now())


def _claim(run_ids: Sequence[int]) -> list[ValidationRun]:
    """Queued runs (and running ones delivered again after a retry or a lost worker) become
    running; a run whose release a live run outside this call holds is skipped."""
    wanted = list(dict.fromkeys(run_ids))
    release_ids = sorted(
        set(
            ValidationRun.objects.filter(
                pk__in=wanted, state__in=(RunState.QUEUED, RunState.RUNNING)
            ).values_list("release_id", flat=True)
        )
    )
    if not release_ids:
        return []
    now = timezone.now()
    # A run marked running longer ago than a task may live belongs to a worker that died.
    limit = int(getattr(settings, "REGISTRY_VALIDATION_TIME_LIMIT", 15 * 60))
    live_since = now - timedelta(seconds=limit + 60)
    with transaction.atomic():
        # Locked in pk order (every writer of a release locks it first): concurrent claims of
        # the same release queue here, and the later one sees the earlier one running.
        list(
            Release.objects.select_for_update()
            .filter(pk__in=release_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        runs = list(
            ValidationRun.objects.select_for_update(of=("self",))
            .select_related("release", "user")
            .filter(pk__in=wanted, state__in=(RunState.QUEUED, RunState.RUNNING))
            .order_by("pk")
        )
        holders = dict(
            ValidationRun.objects.filter(
                release_id__in=release_ids, state=RunState.RUNNING, started_at__gte=live_since
            )
            .exclude(pk__in=wanted)
            .values_list("release_id", "pk")
        )
        claimed: list[ValidationRun] = []
        for run in runs:
            holder = holders.get(run.release_id)
            if holder is not None:
                run.state = RunState.FAILED
                run.finished_at = now
                run.error = (
                    f"skipped: validation run #{holder} of release {run.release.version} "
                    "was running; its results are the ones recorded"
                )
                run.save(update_fields=["state", "finished_at", "error"])
                continue
            # Two runs of one release in one call: the first does the work.
            holders[run.release_id] = run.pk
            claimed.append(run)
        ValidationRun.objects.filter(pk__in=[run.pk for run in claimed]).update(
            state=RunState.RUNNING, started_at=Coalesce("started_at", now)
        )
    for run in claimed:
        run.state = RunState.RUNNING
    return claimed


@dataclass(frozen=True)
class _Judged:
    """A pin as it was judged, and its online result."""

    pin: PinToCheck
    result: PinResult


def _pin_to_check(
    index: int,
    *,
    name: str,
    tag: str,
    commit_sha: str | None,
    package_version: str | None,
    url: str,
    git_url: str,
    package_name: str,
) -> PinToCheck:
    return PinToCheck(
        index=index,
        name=name,
        tag=tag,
        commit_sha=commit_sha,
        package_version=package_version,
        url=pin_url(
            name,
            url=url or None,
            git_url=git_url or None,
            template=getattr(settings, "REGISTRY_GIT_URL_TEMPLATE", None),
        ),
        package_name=package_name or None,
    )


def _gather(
    runs: Sequence[ValidationRun],
    *,
    policy: GitPolicy,
    package_index: PackageIndex | None,
    concurrency: int,
) -> dict[int, dict[int, _Judged]]:
    """Every pin of these runs' releases judged, by release id and pin id."""
    rows = (
        RepositoryPin.objects.filter(release_id__in={run.release_id for run in runs})
        .order_by("release_id", "position", "pk")
        .values_list(*_PIN_COLUMNS)
    )
    keys: list[tuple[int, int]] = []
    pins: list[PinToCheck] = []
    positions: dict[int, int] = {}
    for pk, release_id, name, git_url, package_name, tag, sha, version, url in rows:
        index = positions.get(release_id, 0)
        positions[release_id] = index + 1
        keys.append((release_id, pk))
        pins.append(
            _pin_to_check(
                index,
                name=name,
                tag=tag,
                commit_sha=sha,
                package_version=version,
                url=url,
                git_url=git_url,
                package_name=package_name,
            )
        )
    results = validate_pins(
        pins, policy=policy, package_index=package_index, concurrency=concurrency
    )
    judged: dict[int, dict[int, _Judged]] = {}
    for (release_id, pk), pin, result in zip(keys, pins, results, strict=True):
        judged.setdefault(release_id, {})[pk] = _Judged(pin, result)
    return judged


@dataclass
class _Stored:
    """What recording needs of a stored pin (plain values: no model instance per pin)."""

    pk: int
    release_id: int
    name: str
    git_url: str
    package_name: str
    tag: str
    commit_sha: str | None
    package_version: str | None
    url: str
    findings: list[dict[str, Any]]
    validation_state: str


def _record(
    runs: Sequence[ValidationRun],
    judged: dict[int, dict[int, _Judged]],
    progress: Progress | None = None,
) -> None:
    """Write the results of these runs' releases and finish the runs: one transaction and a
    constant number of queries for all of them, one change (revision bump and
    ``release_changed``) per release whose pins' results changed."""
    now = timezone.now()
    release_ids = sorted({run.release_id for run in runs})
    first = runs[0]
    with changes.batch(changes.VALIDATION, user=first.user, actor=first.requested_by) as batch:
        list(
            Release.objects.select_for_update()
            .filter(pk__in=release_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        by_release: dict[int, list[_Stored]] = {}
        for row in (
            RepositoryPin.objects.select_for_update(of=("self",))
            .filter(release_id__in=release_ids)
            .order_by("release_id", "position", "pk")
            .values_list(*_PIN_COLUMNS, "findings", "validation_state")
        ):
            stored = _Stored(*row)
            by_release.setdefault(stored.release_id, []).append(stored)
        changed: dict[int, _Stored] = {}
        refreshed: list[int] = []
        for run in runs:
            with batch.attributed(changes.VALIDATION, user=run.user, actor=run.requested_by):
                changed_here = _judge_stored(
                    run,
                    by_release.get(run.release_id, []),
                    judged.get(run.release_id, {}),
                    refreshed,
                )
                if changed_here:
                    batch.report(
                        run.release_id,
                        version=run.release.version,
                        pins=changes.RowChanges(changed=tuple(pin.name for pin in changed_here)),
                        findings_checked=True,
                    )
            changed.update((pin.pk, pin) for pin in changed_here)
            run.finished_at = now
            if progress is not None:
                progress(run.release.version)
        if changed:
            # Model instances only for the pins that changed: their history records need them.
            instances = list(RepositoryPin.objects.filter(pk__in=list(changed)))
            for instance in instances:
                result = changed[instance.pk]
                instance.findings = result.findings
                instance.validation_state = result.validation_state
                instance.validated_at = now
            _update_rows(RepositoryPin, instances, ("findings", "validation_state", "validated_at"))
            # What simple_history's bulk_update_with_history does after its bulk_update.
            RepositoryPin.history.bulk_history_create(
                instances, batch_size=500, update=True, **changes.history_defaults()
            )
        if refreshed:
            # Only the time of the check is new: no history record, no change of the release.
            RepositoryPin.objects.filter(pk__in=refreshed).update(validated_at=now)
        _finish(runs)


def _finish(runs: Sequence[ValidationRun]) -> None:
    """Store the runs' state, finish time, counts and results."""
    _update_rows(ValidationRun, runs, ("state", "finished_at", "counts", "results"))


def _update_rows(model: type[Model], rows: Sequence[Model], names: Sequence[str]) -> None:
    """Write these fields of these rows with ONE statement run for every row
    (``executemany``): Django's ``bulk_update`` builds a CASE per field and row, which takes
    seconds of Python for thousands of pins."""
    meta = model._meta
    fields: list[Field[Any, Any]] = [meta.get_field(name) for name in names]  # type: ignore[misc]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(str(field.column))} = %s" for field in fields)
    statement = (
        f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608 - names from the model
        f"WHERE {quote(str(meta.pk.column))} = %s"
    )
    parameters = [
        [field.get_db_prep_save(getattr(row, field.attname), connection) for field in fields]
        + [row.pk]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(statement, parameters)


def _judge_stored(
    run: ValidationRun,
    pins: Sequence[_Stored],
    judged: dict[int, _Judged],
    refreshed: list[int],
) -> list[_Stored]:
    """Apply the results to the stored pins of one release and fill the run's state, counts
    and results; the pins whose findings or state changed."""
    changed: list[_Stored] = []
    results: list[dict[str, Any]] = []
    counts = empty_counts()
    for index, pin in enumerate(pins):
        entry = judged.get(pin.pk)
        commit: str | None = None
        if entry is not None and entry.pin == _pin_to_check(
            index,
            name=pin.name,
            tag=pin.tag,
            commit_sha=pin.commit_sha,
            package_version=pin.package_version,
            url=pin.url,
            git_url=pin.git_url,
            package_name=pin.package_name,
        ):
            online = [finding.as_dict() for finding in entry.result.findings]
            findings, state = with_online_findings(pin.findings, online)
            if findings != pin.findings or state != pin.validation_state:
                pin.findings, pin.validation_state = findings, state
                changed.append(pin)
            else:
                refreshed.append(pin.pk)
            commit = entry.result.resolved_sha
        counts[pin.validation_state] = counts.get(pin.validation_state, 0) + 1
        results.append(
            {
                "repository": pin.name,
                "path": f"repositories[{index}]",
                "state": pin.validation_state,
                "commit": commit,
                "findings": list(pin.findings),
            }
        )
    run.state = RunState.DONE
    run.counts = counts
    run.results = results
    return changed


# --- reading -------------------------------------------------------------------------------


def latest_run(release: Release, *, finished: bool = True) -> ValidationRun | None:
    """The release's newest run (the newest finished one by default)."""
    runs = ValidationRun.objects.filter(release=release)
    if finished:
        runs = runs.filter(state=RunState.DONE)
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
