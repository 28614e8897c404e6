"""The one change hook: every write to a release, its pins or its deployments is reported here.

A write path opens a :func:`batch` around its transaction, naming its source (``"admin"``,
``"import manifests/v1.4.yaml"``, later ``"api"``, ``"validation"``, ``"git"``) and who acts::

    with changes.batch(changes.ADMIN, user=request.user):
        release.save()
        pin.save()

Model saves and deletes report through signals (:mod:`releases.signals`); bulk writers (the
importer) call :meth:`Batch.report` themselves. When the outermost batch ends, still inside
its transaction, it

1. recomputes the offline findings of every release changed by a path that did not
   (:func:`releases.pin_state.recheck_releases`),
2. bumps ``Release.revision`` of each touched release once, with one UPDATE, and
3. sends :data:`release_changed` once per release, with a frozen :class:`ReleaseChange`,
   then :data:`releases_changed` once with all of them (for a receiver that writes the same
   kind of row for every release, in one statement: the Notion outbox).

Receivers run in the transaction (so an outbox row they write commits or rolls back with the
change) and must schedule any side effect with ``transaction.on_commit``; they must not write
releases, pins or deployments themselves (the batch has ended). A save or delete
outside any batch is a batch of its own (source :data:`DIRECT`). Nothing is reported for a
write that changes nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Model
from django.dispatch import Signal
from django.utils import timezone

# Sources of change. A new one is just a new string: ``changes.batch("api", user=...)``.
ADMIN = "admin"
IMPORT = "import"  # followed by the file: "import manifests/v1.4.yaml"
API = "api"
VALIDATION = "validation"
GIT = "git"
# A save or delete made outside any batch (a shell, a task that forgot to open one).
DIRECT = "direct"

Action = Literal["created", "changed", "deleted"]

#: Sent once per changed release when a batch ends, inside its transaction, with
#: ``sender=Release`` and ``change=<ReleaseChange>``.
release_changed = Signal()

#: Sent once when the outermost batch ends, inside its transaction, after every
#: :data:`release_changed`, with ``sender=Release`` and ``changes=<tuple of ReleaseChange>``
#: (one per changed release, in the order announced); not sent when nothing changed.
releases_changed = Signal()

#: Sent once when the outermost batch ends, inside its transaction, after the findings are
#: rechecked and before anything is announced (``sender=Batch``, ``batch=``). A receiver may
#: raise to refuse the whole batch (releases.promotion.enforcement): it is rolled back.
batch_ending = Signal()


@dataclass(frozen=True)
class RowChanges:
    """Rows of one kind created, changed and deleted, by name (repository or environment)."""

    created: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.created or self.changed or self.deleted)


@dataclass(frozen=True)
class ReleaseChange:
    """What one batch changed in one release.

    Rows are named as they are when the batch ends. A row whose name changed (a pin moved to
    another repository, a deployment to another environment, a repository or environment
    renamed in the catalogue) is reported as the old name ``deleted`` and the new one
    ``created``: the release no longer has an entry under the old name, so a mirror keyed by
    ``<version>:<name>`` drops that entry and adds the new one. A repository's new ``git_url``
    reports its pins without a URL of their own as ``changed``, a new ``package_name`` all its
    pins (their online results are reset).
    """

    release_id: int
    version: str
    #: The release's revision after the change (the ETag); ``None`` once it is deleted.
    revision: int | None
    #: What happened to the release row itself, ``None`` when only its pins or deployments
    #: changed.
    release: Action | None
    #: Pins by repository name.
    pins: RowChanges
    #: Deployments by environment name.
    deployments: RowChanges
    #: ``"admin"``, ``"import <file>"``, ``"api"``, ...
    source: str
    user_id: int | None
    #: Who, for people: the user name (or, later, the API token's name); ``""`` if unknown.
    actor: str


@dataclass
class _Rows:
    """One kind of row of one release, by name (from bulk writers) or by id (from signals,
    named when the batch ends)."""

    names: dict[str, Action] = field(default_factory=dict)
    ids: dict[int, Action] = field(default_factory=dict)

    @staticmethod
    def merge(actions: dict[Any, Action], key: Any, action: Action) -> None:
        before = actions.get(key)
        if before is None:
            actions[key] = action
        elif before == "created" and action == "deleted":
            del actions[key]  # came and went within the batch
        elif before == "deleted" and action == "created":
            actions[key] = "changed"  # went and came back
        elif action == "deleted" or before == "changed":
            actions[key] = action


@dataclass
class _Pending:
    source: str
    user: Any
    actor: str
    version: str | None = None
    release: Action | None = None
    pins: _Rows = field(default_factory=_Rows)
    deployments: _Rows = field(default_factory=_Rows)
    recheck: bool = False
    findings_checked: bool = False


class Batch:
    """The changes of one transaction, collected until the outermost :func:`batch` ends."""

    def __init__(self, source: str, user: Any, actor: str | None) -> None:
        self.pending: dict[int, _Pending] = {}
        # Pins whose dependency links changed, with who changed them: their release is looked
        # up when the batch ends (the link's pin may not be loaded, or be gone by then).
        self.linked_pins: dict[int, tuple[str, Any, str]] = {}
        self.attribution: list[tuple[str, Any, str]] = []
        # What the batch announced when it ended (each release's new revision, say).
        self.announced: list[ReleaseChange] = []
        self.push(source, user, actor)

    # --- attribution ----------------------------------------------------------------------

    def push(self, source: str, user: Any, actor: str | None) -> None:
        user = user if getattr(user, "pk", None) else None
        if actor is None:
            actor = user.get_username() if user is not None else ""
        self.attribution.append((source, user, actor))

    @contextmanager
    def attributed(
        self, source: str, *, user: Any = None, actor: str | None = None
    ) -> Iterator[None]:
        """Attribute the changes reported inside to ``source``, ``user`` and ``actor`` (each file
        of a many-file import, say), without a savepoint of their own."""
        self.push(source, user, actor)
        try:
            yield
        finally:
            self.attribution.pop()

    @property
    def source(self) -> str:
        return self.attribution[-1][0]

    @property
    def user(self) -> Any:
        return self.attribution[-1][1]

    def entry(self, release_id: int) -> _Pending:
        pending = self.pending.get(release_id)
        if pending is None:
            source, user, actor = self.attribution[-1]
            pending = self.pending[release_id] = _Pending(source, user, actor)
        return pending

    # --- reporting ------------------------------------------------------------------------

    def report(
        self,
        release_id: int,
        *,
        version: str | None = None,
        release: Action | None = None,
        pins: RowChanges | None = None,
        deployments: RowChanges | None = None,
        findings_checked: bool = False,
        recheck: bool = False,
    ) -> None:
        """Report changes a bulk writer made (no signal told us): pins by repository name,
        deployments by environment name. ``findings_checked`` says the writer has already
        stored the offline findings of the whole release as they now are; ``recheck`` asks for
        them to be recomputed when the batch ends."""
        pending = self.entry(release_id)
        pending.recheck = pending.recheck or recheck
        if version is not None:
            pending.version = version
        if release is not None:
            self.release_row(release_id, release, version)
        for rows, given in ((pending.pins, pins), (pending.deployments, deployments)):
            if given is None:
                continue
            for action, names in (
                ("created", given.created),
                ("changed", given.changed),
                ("deleted", given.deleted),
            ):
                for name in names:
                    _Rows.merge(rows.names, name, action)  # type: ignore[arg-type]
        if findings_checked:
            pending.findings_checked = True

    def release_row(self, release_id: int, action: Action, version: str | None = None) -> None:
        pending = self.entry(release_id)
        if version is not None:
            pending.version = version
        if pending.release is None or action == "deleted":
            pending.release = action
        pending.recheck = pending.recheck or action != "deleted"

    def pin_row(self, release_id: int, repository_id: int, action: Action) -> None:
        pending = self.entry(release_id)
        _Rows.merge(pending.pins.ids, repository_id, action)
        pending.recheck = True

    def deployment_row(self, release_id: int, environment_id: int, action: Action) -> None:
        pending = self.entry(release_id)
        _Rows.merge(pending.deployments.ids, environment_id, action)
        pending.recheck = True

    def dependency_row(self, pin_id: int) -> None:
        self.linked_pins.setdefault(pin_id, self.attribution[-1])

    # --- the end of the batch -------------------------------------------------------------

    def flush(self) -> list[ReleaseChange]:
        """Recheck, bump and announce; called once, inside the transaction."""
        from registry.models import Environment, Repository

        from .models import Release, RepositoryPin
        from .pin_state import recheck_releases

        if self.linked_pins:
            rows = RepositoryPin.objects.filter(pk__in=list(self.linked_pins)).values_list(
                "pk", "release_id", "repository_id"
            )
            for pin_id, release_id, repository_id in rows:
                pending = self.pending.get(release_id)
                if pending is None:
                    pending = _Pending(*self.linked_pins[pin_id])
                    self.pending[release_id] = pending
                _Rows.merge(pending.pins.ids, repository_id, "changed")
                pending.recheck = True
            self.linked_pins = {}

        recheck = [
            release_id
            for release_id, pending in self.pending.items()
            if pending.recheck and not pending.findings_checked and pending.release != "deleted"
        ]
        if recheck and connection.features.has_select_for_update:
            # Hold the releases while their findings are computed from what is stored: a
            # concurrent batch that changed one (an import adding a link, say) has committed by
            # the time the lock is granted, and is seen, so that a dependency cycle made of two
            # writes of two transactions is found by the second. In pk order, as every locker.
            list(
                Release.objects.select_for_update()
                .filter(pk__in=recheck)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        rechecked_pins, rechecked_releases = recheck_releases(recheck)
        batch_ending.send(sender=Batch, batch=self)
        for release_id, names in rechecked_pins.items():
            for name in names:
                _Rows.merge(self.pending[release_id].pins.names, name, "changed")
        for release_id in rechecked_releases:
            if self.pending[release_id].release is None:
                self.pending[release_id].release = "changed"

        changed = {
            release_id: pending
            for release_id, pending in self.pending.items()
            if pending.release
            or pending.pins.names
            or pending.pins.ids
            or pending.deployments.names
            or pending.deployments.ids
        }
        self.pending = {}
        if not changed:
            return []
        repository_ids = {i for p in changed.values() for i in p.pins.ids}
        environment_ids = {i for p in changed.values() for i in p.deployments.ids}
        repositories = (
            dict(Repository.objects.filter(pk__in=repository_ids).values_list("pk", "name"))
            if repository_ids
            else {}
        )
        environments = (
            dict(Environment.objects.filter(pk__in=environment_ids).values_list("pk", "name"))
            if environment_ids
            else {}
        )
        live = [i for i, p in changed.items() if p.release != "deleted"]
        stored: dict[int, tuple[str, int]] = {}
        if live:
            Release.objects.filter(pk__in=live).update(revision=F("revision") + 1)
            stored = {
                pk: (version, revision)
                for pk, version, revision in Release.objects.filter(pk__in=live).values_list(
                    "pk", "version", "revision"
                )
            }
        announced = []
        for release_id, pending in changed.items():
            version, revision = stored.get(release_id, (pending.version or "", None))
            change = ReleaseChange(
                release_id=release_id,
                version=version,
                revision=revision,
                release=pending.release,
                pins=_row_changes(pending.pins, repositories),
                deployments=_row_changes(pending.deployments, environments),
                source=pending.source,
                user_id=pending.user.pk if pending.user is not None else None,
                actor=pending.actor,
            )
            announced.append(change)
            release_changed.send(sender=Release, change=change)
        releases_changed.send(sender=Release, changes=tuple(announced))
        return announced


def _row_changes(rows: _Rows, names: dict[int, str]) -> RowChanges:
    actions = dict(rows.names)
    for row_id, action in rows.ids.items():
        _Rows.merge(actions, names.get(row_id, f"#{row_id}"), action)

    def named(action: Action) -> tuple[str, ...]:
        return tuple(sorted(name for name, done in actions.items() if done == action))

    return RowChanges(named("created"), named("changed"), named("deleted"))


_current: ContextVar[Batch | None] = ContextVar("release_changes_batch", default=None)


def current() -> Batch | None:
    """The batch collecting this thread's changes, if one is open."""
    return _current.get()


@contextmanager
def batch(source: str, *, user: Any = None, actor: str | None = None) -> Iterator[Batch]:
    """Collect every change made inside into one report (and one revision bump) per release.

    The outermost batch runs in a transaction (``transaction.atomic()``) and, when its block
    succeeds, ends as the module says; when it raises, nothing is reported. A nested batch
    joins the outer one; changes made inside it are attributed to its own ``source``, ``user``
    and ``actor`` (several files of one import, say), and are forgotten if it raises.
    """
    outer = _current.get()
    if outer is not None:
        saved = copy.deepcopy((outer.pending, outer.linked_pins))
        outer.push(source, user, actor)
        try:
            with transaction.atomic():
                yield outer
        except BaseException:
            outer.pending, outer.linked_pins = saved
            raise
        finally:
            outer.attribution.pop()
        return
    collected = Batch(source, user, actor)
    token = _current.set(collected)
    try:
        with transaction.atomic():
            yield collected
            collected.announced = collected.flush()
    finally:
        _current.reset(token)


@contextmanager
def apart() -> Iterator[None]:
    """No batch is open inside: a batch opened there is an outermost one, ended (and
    checked) on its own, even while another is open outside (a dry run's rolled-back trial
    write, :mod:`releases.importing`)."""
    token = _current.set(None)
    try:
        yield
    finally:
        _current.reset(token)


def batch_if_none() -> AbstractContextManager[Any]:
    """A :data:`DIRECT` batch unless one is open: for a save or delete made outside any."""
    return nullcontext() if _current.get() is not None else batch(DIRECT)


def reporting() -> AbstractContextManager[Any]:
    """The open batch to report to (for the signal receivers).

    Every path that sends those signals opens one first (``save()`` and ``delete()`` of the
    models and ``delete()``/``update()`` of their querysets, through :func:`batch_if_none`), so
    a bulk delete is one batch, not one per row. A signal from a path that does not (none is
    known) still gets a one-shot :data:`DIRECT` batch rather than going unreported."""
    found = _current.get()
    return nullcontext(found) if found is not None else batch(DIRECT)


def history_defaults(reason: str | None = None, date: Any = None) -> dict[str, Any]:
    """Arguments for simple-history's bulk helpers, attributed as the open batch is."""
    found = _current.get()
    return {
        "default_user": found.user if found is not None else None,
        "default_change_reason": reason or (found.source if found is not None else DIRECT),
        "default_date": date or timezone.now(),
    }


def record_history(model: type[Model], pks: Sequence[int], history_type: str = "~") -> None:
    """A history record (``history_type``) of each of these rows of ``model`` as it is now,
    copied by the database (``INSERT ... SELECT``), for rows written by a statement rather
    than by ``save()`` (which simple-history follows): what simple-history's
    ``bulk_history_create`` makes of them, without a model instance per row and per record.

    Attributed as the open batch is (:func:`history_defaults`: its source
    is the change reason), by its user or else, as simple-history does, the signed-in user of
    the request being served; dated now."""
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True) or not pks:
        return
    history: Any = model.history.model  # type: ignore[attr-defined]
    meta = history._meta
    defaults = history_defaults()
    user = defaults["default_user"] or history.get_default_history_user(None)
    quote = connection.ops.quote_name
    tracked = [
        (quote(meta.get_field(field.name).column), quote(field.column))
        for field in history.tracked_fields
    ]
    targets = ", ".join(
        [target for target, _ in tracked]
        + [
            quote(meta.get_field(name).column)
            for name in ("history_date", "history_change_reason", "history_type", "history_user")
        ]
    )
    sources = ", ".join(source for _, source in tracked)
    extra = [
        meta.get_field("history_date").get_db_prep_save(defaults["default_date"], connection),
        defaults["default_change_reason"],
        history_type,
        user.pk if user is not None else None,
    ]
    table = quote(model._meta.db_table)
    pk: Any = model._meta.pk
    key = quote(str(pk.column))
    insert = f"INSERT INTO {quote(meta.db_table)} ({targets}) SELECT {sources}, %s, %s, %s, %s "
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the ids as one array
            array = f"%s::{pk.cast_db_type(connection)}[]"
            cursor.execute(f"{insert}FROM {table} WHERE {key} = ANY({array})", [*extra, list(pks)])
            return
        size = (connection.features.max_query_params or len(pks) + len(extra)) - len(extra)
        for start in range(0, len(pks), size):
            some = pks[start : start + size]
            cursor.execute(
                f"{insert}FROM {table} WHERE {key} IN ({', '.join(['%s'] * len(some))})",
                [*extra, *some],
            )
