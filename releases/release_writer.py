"""Write one manifest's rows: the release, its pins, their dependencies and its deployments.

The writer compares with what is stored and writes only the difference, in bulk, leaving a
history record for every row it creates, changes or deletes and reporting what it changed to
the open :func:`releases.changes.batch`. The number of queries does not depend on the number
of pins. Orchestration (transactions, locks, conflicts, results) is :mod:`releases.importing`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Max, Model
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from registry.models import Environment, Repository

from . import changes
from .manifests import EnvironmentEntry, Finding, Manifest, check_manifest
from .models import LIVE_STATUSES, EnvironmentDeployment, PinDependency, Release, RepositoryPin
from .pin_state import (
    ONLINE_SUBJECT_FIELDS,
    apply_offline_findings,
    remember_previous_commit,
    reset_online_results,
    split_findings,
    state_of,
)
from .promotion.transitions import note_live

# Environment.display_order is a PositiveIntegerField: new environments never go past it.
DISPLAY_ORDER_MAX = 2_147_483_647

_Catalogue = TypeVar("_Catalogue", Repository, Environment)


def metadata_extra_text(metadata: dict[str, Any] | None) -> str | None:
    """What ``Release.metadata_extra`` stores for a manifest's metadata mapping."""
    release = Release()
    release.set_metadata(metadata)
    return release.metadata_extra


class ReleaseWriter:
    """Writes ``manifest`` over ``release`` (``None``: a new one), as imported from ``source``
    by ``user``; every history record of the release's rows dated ``now`` (default: the moment
    the catalogue rows it names are resolved, each new one dated when it is inserted)."""

    def __init__(
        self, manifest: Manifest, *, source: str, user: Any, now: dt.datetime | None = None
    ) -> None:
        self.manifest = manifest
        self.source = source
        self.user = user if getattr(user, "pk", None) else None
        self.reason = f"imported from {source}"
        self.now = now
        self.pins_changed: dict[str, changes.Action] = {}
        self.deployments_changed: dict[str, changes.Action] = {}

    @property
    def moment(self) -> dt.datetime:
        """The date of this import's history records, fixed when first asked."""
        if self.now is None:
            self.now = timezone.now()
        return self.now

    def history(self) -> dict[str, Any]:
        return {
            "default_user": self.user,
            "default_change_reason": self.reason,
            "default_date": self.moment,
        }

    def write(self, release: Release | None, findings: list[Finding]) -> Release:
        """Store the manifest; reports the changes to the open batch."""
        manifest = self.manifest
        repositories = self.repositories()
        environments = self.environments()
        # The moment is fixed once the catalogue rows are there: a new repository that another
        # import created meanwhile (and this one waited for) is dated before the pins naming it.
        self.moment  # noqa: B018 - fixes it

        stored_pins = list(release.pins.all()) if release is not None else []
        stored_deployments = list(release.deployments.all()) if release is not None else []
        kept = {
            deployment.environment.name: EnvironmentEntry(
                namespace=deployment.namespace,
                deployed_at=deployment.deployed_at,
                status=deployment.status,
                status_explicit=deployment.status_explicit,
            )
            for deployment in stored_deployments
            if deployment.environment.name not in manifest.environments
        }
        if kept:
            # The release keeps deployments recorded elsewhere (after the file's): its
            # findings are those of the manifest it ends up with, not of the file alone.
            findings = check_manifest(
                replace(manifest, environments={**manifest.environments, **kept})
            )
        pin_findings, release_findings = split_findings(findings)
        if release is None:
            release = Release(version=manifest.version)
        release.created_at = manifest.created_at
        release.created_by = manifest.created_by
        release.set_metadata(manifest.metadata)
        release.findings = release_findings
        release.source = self.source[:500]
        release._change_reason = self.reason  # type: ignore[attr-defined]
        release._history_user = self.user  # type: ignore[attr-defined]
        # One moment for every record of this import, so a point-in-time view sees all or none.
        release._history_date = self.moment  # type: ignore[attr-defined]
        release.save()  # reports the release row itself (created, or changed if it did)

        pins = self.pins(release, stored_pins, repositories, pin_findings)
        self.dependencies(pins, stored_pins)
        self.deployments(release, stored_deployments, environments)
        batch = changes.current()
        if batch is not None:
            batch.report(
                release.pk,
                version=release.version,
                pins=_row_changes(self.pins_changed),
                deployments=_row_changes(self.deployments_changed),
                findings_checked=True,
            )
        return release

    # --- the catalogue --------------------------------------------------------------------

    def repositories(self) -> dict[str, Repository]:
        entries = {entry.name: entry for entry in self.manifest.repositories}
        return self.catalogue(
            Repository,
            list(entries),
            lambda names: [{"name": n, "git_url": entries[n].url or ""} for n in names],
        )

    def environments(self) -> dict[str, Environment]:
        names = list(self.manifest.environments)
        if not names:
            return {}

        def rows(missing: list[str]) -> list[dict[str, Any]]:
            last = Environment.objects.aggregate(last=Max("display_order"))["last"]
            start = 0 if last is None else last + 1
            # At the top of the range new environments share the last place (then sort by name).
            return [
                {"name": name, "display_order": min(start + i, DISPLAY_ORDER_MAX)}
                for i, name in enumerate(missing)
            ]

        return self.catalogue(Environment, names, rows)

    def catalogue(
        self,
        model: type[_Catalogue],
        names: list[str],
        rows: Any,
    ) -> dict[str, _Catalogue]:
        """The rows of ``model`` named ``names``, creating the missing ones.

        Another import may create the same name at the same time (two releases that share a
        new repository): the insert skips a name that exists by then, and only the rows this
        import really created get a history record.
        """
        found = {row.name: row for row in model._default_manager.filter(name__in=names)}
        missing = sorted(name for name in names if name not in found)  # one lock order for all
        if not missing:
            return found
        created = _insert_missing(model, rows(missing))
        if created:
            when = self.now or timezone.now()
            _history_records(model, created, "+", when, self.user, self.reason)
        if len(created) < len(missing):
            # Created meanwhile by another transaction, committed by now.
            found.update(
                (row.name, row)
                for row in model._default_manager.filter(
                    name__in=[name for name in missing if name not in {r.name for r in created}]
                )
            )
        found.update((row.name, row) for row in created)
        return found

    # --- pins, dependencies, deployments --------------------------------------------------

    def pins(
        self,
        release: Release,
        stored: list[RepositoryPin],
        repositories: dict[str, Repository],
        pin_findings: dict[int, list[dict[str, Any]]],
    ) -> dict[str, RepositoryPin]:
        existing = {pin.repository.name: pin for pin in stored}
        wanted = {entry.name for entry in self.manifest.repositories}
        created: list[RepositoryPin] = []
        changed: list[RepositoryPin] = []
        changed_fields: set[str] = set()
        for position, entry in enumerate(self.manifest.repositories):
            offline = pin_findings.get(position, [])
            values = {
                "tag": entry.tag,
                "commit_sha": entry.commit_sha,
                "package_version": entry.package_version,
                "url": entry.url or "",
            }
            pin = existing.get(entry.name)
            if pin is None:
                created.append(
                    RepositoryPin(
                        # Ids, not instances: the related-object descriptors cost more
                        # than anything else here when there are a thousand pins.
                        release_id=release.pk,
                        repository_id=repositories[entry.name].pk,
                        position=position,
                        findings=offline,
                        validation_state=state_of(offline, checked_online=False),
                        **values,
                    )
                )
                continue
            original = (pin.findings, pin.validation_state)
            before = pin.commit_sha
            fields = assign(pin, values)
            if "commit_sha" in fields and remember_previous_commit(pin, before):
                fields.add("previous_commit_sha")
            if fields & set(ONLINE_SUBJECT_FIELDS):
                # Earlier online results were about other values.
                fields |= assign(pin, {"validated_at": None})
                reset_online_results(pin)
            fields |= assign(pin, {"position": position})
            # Offline findings are recomputed for every pin (a cycle may come or go because
            # another pin changed); online ones stay while the pin's values do.
            apply_offline_findings(pin, offline)
            if (pin.findings, pin.validation_state) != original:
                fields |= {"findings", "validation_state"}
            if fields:
                changed.append(pin)
                changed_fields |= fields
                self.pins_changed[entry.name] = "changed"
        removed = [pin for name, pin in existing.items() if name not in wanted]
        if removed:
            removed_ids = [pin.pk for pin in removed]
            links = PinDependency.objects.filter(
                pin_id__in=removed_ids
            ) | PinDependency.objects.filter(depends_on_id__in=removed_ids)
            dropped = list(links)
            self.delete(dropped, PinDependency)
            self.delete(removed, RepositoryPin)
            for pin in removed:
                self.pins_changed[pin.repository.name] = "deleted"
            # A pin that stays has lost its dependency on a removed one: changed.
            names = {pin.pk: name for name, pin in existing.items()}
            for link in dropped:
                name = names[link.pin_id]
                if name not in self.pins_changed:
                    self.pins_changed[name] = "changed"
        if changed:
            # Only the columns that changed somewhere: each costs a CASE over all rows.
            bulk_update_with_history(
                changed, RepositoryPin, sorted(changed_fields), **self.history()
            )
        if created:
            created = RepositoryPin.objects.bulk_create(created)
            _history_records(RepositoryPin, created, "+", self.moment, self.user, self.reason)
        names = {repository.pk: name for name, repository in repositories.items()}
        pins = {names[pin.repository_id]: pin for pin in created}
        self.pins_changed.update((name, "created") for name in pins)
        pins.update((name, pin) for name, pin in existing.items() if name in wanted)
        return pins

    def dependencies(self, pins: dict[str, RepositoryPin], existing: list[RepositoryPin]) -> None:
        # Links of pins that were already stored, as prefetched; those touching a removed pin
        # are gone already.
        current: dict[tuple[int, int], PinDependency] = {}
        live = {pin.pk for pin in pins.values()}
        for pin in existing:
            for link in pin.manifest_links:  # type: ignore[attr-defined]
                if link.pin_id in live and link.depends_on_id in live:
                    current[(link.pin_id, link.depends_on_id)] = link
        wanted: dict[tuple[int, int], int] = {}
        for entry in self.manifest.repositories:
            for position, name in enumerate(entry.depends_on):
                wanted[(pins[entry.name].pk, pins[name].pk)] = position
        stale = [link for key, link in current.items() if key not in wanted]
        moved = [
            link
            for key, position in wanted.items()
            if key in current and assign(link := current[key], {"position": position})
        ]
        new = [
            PinDependency(pin_id=pin_id, depends_on_id=depends_on_id, position=position)
            for (pin_id, depends_on_id), position in wanted.items()
            if (pin_id, depends_on_id) not in current
        ]
        if stale:
            self.delete(stale, PinDependency)
        if moved:
            bulk_update_with_history(moved, PinDependency, ["position"], **self.history())
        if new:
            bulk_create_with_history(new, PinDependency, **self.history())
        names = {pin.pk: name for name, pin in pins.items()}
        for link in [*stale, *moved, *new]:
            linked = names.get(link.pin_id)
            if linked is not None and linked not in self.pins_changed:
                self.pins_changed[linked] = "changed"

    def deployments(
        self,
        release: Release,
        stored: list[EnvironmentDeployment],
        environments: dict[str, Environment],
    ) -> None:
        existing = {deployment.environment.name: deployment for deployment in stored}
        created, changed = [], []
        position = 0
        for name, entry in self.manifest.environments.items():
            values: dict[str, Any] = {
                "namespace": entry.namespace,
                "deployed_at": entry.deployed_at,
                "status": entry.status,
                # Until the codec says so, a file is taken to have written no status.
                "status_explicit": getattr(entry, "status_explicit", False),
                "position": position,
            }
            position += 1
            deployment = existing.get(name)
            if entry.status in LIVE_STATUSES and (
                deployment is None or deployment.status not in LIVE_STATUSES
            ):
                note_live(release.pk, environments[name].pk, self.source)
            if deployment is None:
                created.append(
                    EnvironmentDeployment(release=release, environment=environments[name], **values)
                )
                self.deployments_changed[name] = "created"
            elif assign(deployment, values):
                changed.append(deployment)
                self.deployments_changed[name] = "changed"
        # Deployments recorded elsewhere are kept, after the file's, in their own order.
        for name, deployment in existing.items():
            if name not in self.manifest.environments:
                if assign(deployment, {"position": position}):
                    changed.append(deployment)
                    self.deployments_changed[name] = "changed"
                position += 1
        if changed:
            bulk_update_with_history(
                changed,
                EnvironmentDeployment,
                ["position", "namespace", "deployed_at", "status", "status_explicit"],
                **self.history(),
            )
        if created:
            bulk_create_with_history(created, EnvironmentDeployment, **self.history())

    def delete(self, objects: list[Any], model: type[Model]) -> None:
        """Delete rows with one history record each, in a constant number of queries.

        ``QuerySet.delete()`` would send a signal per row and simple-history would write its
        records one by one; so the '-' records are written in bulk and the rows removed with a
        raw delete (the callers have already removed every row that points at them, and report
        the deletions to the change batch themselves).
        """
        if not objects:
            return
        _history_records(model, objects, "-", self.moment, self.user, self.reason)
        queryset = model._default_manager.filter(pk__in=[obj.pk for obj in objects])
        queryset._raw_delete(queryset.db)


def assign(obj: Model, values: dict[str, Any]) -> set[str]:
    """Set ``values`` on ``obj``; the names of the fields that changed."""
    changed = set()
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed.add(key)
    return changed


def _row_changes(actions: dict[str, changes.Action]) -> changes.RowChanges:
    def named(action: str) -> tuple[str, ...]:
        return tuple(name for name, done in actions.items() if done == action)

    return changes.RowChanges(named("created"), named("changed"), named("deleted"))


def _history_records(
    model: type[Model],
    objects: Iterable[Any],
    kind: str,
    when: dt.datetime,
    user: Any,
    reason: str,
) -> None:
    """One history record per object, written with a prepared ``executemany``.

    What simple-history's bulk helpers write, without Django compiling one statement of a
    thousand rows: the columns every record shares are prepared once, the tracked ones per row.
    """
    history_model = model.history.model  # type: ignore[attr-defined]
    shared = {
        "history_type": kind,
        "history_date": when,
        "history_user_id": getattr(user, "pk", None),
        "history_change_reason": reason,
    }
    fields = [field for field in history_model._meta.concrete_fields if not field.primary_key]
    prepared = {
        field.attname: field.get_db_prep_save(shared[field.attname], connection)
        for field in fields
        if field.attname in shared
    }
    rows = [
        [
            prepared[field.attname]
            if field.attname in prepared
            else field.get_db_prep_save(getattr(obj, field.attname), connection)
            for field in fields
        ]
        for obj in objects
    ]
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(history_model._meta.db_table)
    cols = ", ".join(quote(str(field.column)) for field in fields)
    marks = ", ".join(["%s"] * len(fields))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)  # noqa: S608


def _insert_missing(model: type[_Catalogue], rows: Sequence[dict[str, Any]]) -> list[_Catalogue]:
    """``INSERT ... ON CONFLICT (name) DO NOTHING RETURNING``: the rows really inserted.

    Django's ``bulk_create(ignore_conflicts=True)`` would not say which rows it inserted; both
    PostgreSQL and SQLite (3.35+) answer this statement with exactly those.
    """
    quote = connection.ops.quote_name
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    objects = [model(**row) for row in rows]
    inserted: list[_Catalogue] = []
    for start in range(0, len(objects), 500):
        chunk = objects[start : start + 500]
        values = ", ".join("(" + ", ".join(["%s"] * len(fields)) + ")" for _ in chunk)
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608 - names from our models
            f"({', '.join(quote(str(field.column)) for field in fields)}) VALUES {values} "
            f"ON CONFLICT ({quote('name')}) DO NOTHING RETURNING {quote('id')}, {quote('name')}"
        )
        params = [
            field.get_db_prep_save(field.pre_save(obj, add=True), connection)
            for obj in chunk
            for field in fields
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            ids = dict((name, pk) for pk, name in cursor.fetchall())
        for obj in chunk:
            if obj.name in ids:
                obj.pk = ids[obj.name]
                obj._state.adding = False
                obj._state.db = connection.alias
                inserted.append(obj)
    return inserted
