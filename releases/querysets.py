"""Querysets that declare what each use of a release loads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db import connections, models

if TYPE_CHECKING:
    from .models import Release  # noqa: F401 - named in a string, models import this module

_Model = TypeVar("_Model", bound=models.Model, covariant=True)


class ChangeReportingQuerySet(models.QuerySet[_Model]):
    """A queryset of a release model whose bulk writes report to :mod:`releases.changes`.

    ``delete()`` runs in one change batch (the open one, or one of its own): deleting releases
    is one ``deleted`` change per release, with its pins and deployments, and one
    announcement each, whatever the number of rows.

    ``update()`` inside an open batch is the batch writer's own business (Django's
    ``bulk_update`` is made of it, and the importer reports what it bulk-updated itself, writes
    its history records, with ``bulk_update_with_history``, and notes the deployments it makes
    live for the promotion gate), so it reports and records nothing.
    Outside any batch it is a :data:`~releases.changes.DIRECT` batch of its own that updates
    the rows it matches when it starts, writes a history record of each as updated (as a save
    does: the deployment history is what soak times are counted from, and what the history
    API and ``--as-of`` exports read), reports every affected release as changed (rows by their
    ids as they were before the update) and rechecks its offline findings. A deployment it
    moves into a live status (or, live, into another release or environment) is put to the
    promotion gate when that batch ends, as a saved one is: a refusal raises and the update is
    rolled back. It bypasses ``save()``, so it does not reset the online results of a pin whose
    tag or commit it changes: write pins with ``save()``. (So ``bulk_update_with_history``
    belongs inside a batch: outside, its rows would be recorded twice.)
    """

    def delete(self) -> tuple[int, dict[str, int]]:
        from . import changes

        with changes.batch_if_none():
            return super().delete()

    def update(self, **kwargs: Any) -> int:
        from . import changes

        if changes.current() is not None:
            return super().update(**kwargs)
        if self.query.is_sliced:
            raise TypeError("Cannot update a query once a slice has been taken.")
        with changes.batch(changes.DIRECT) as batch:
            pks, report = _affected_rows(self, kwargs)
            if not pks:
                return 0
            rows = self
            if connections[self.db].vendor == "postgresql":
                # Held to the rows read: one another transaction inserted meanwhile would be
                # updated and not recorded. (SQLite's writers take the database at BEGIN.)
                rows = self.filter(pk__any_of=pks)
            count = super(ChangeReportingQuerySet, rows).update(**kwargs)
            if count:
                if _tracked(self.model) & kwargs.keys():
                    changes.record_history(self.model, pks)
                report(batch)
            return count


def _tracked(model: type[models.Model]) -> set[str]:
    """The names (and attribute names) of the fields the history of ``model`` keeps."""
    history: Any = model.history.model  # type: ignore[attr-defined]
    return {name for field in history.tracked_fields for name in (field.name, field.attname)}


#: The fields whose update can make a deployment live where it was not.
_LIVE_FIELDS = {"status", "release", "release_id", "environment", "environment_id"}


def _affected_rows(queryset: models.QuerySet[Any], values: dict[str, Any]) -> tuple[list[int], Any]:
    """Read which rows ``queryset`` holds before it is updated with ``values``: their ids,
    and a function that reports them (and their releases) to a batch as changed (once
    updated)."""
    from .models import EnvironmentDeployment, PinDependency, Release, RepositoryPin

    model = queryset.model
    if model is Release:
        releases = list(queryset.values_list("pk", flat=True))
        return releases, lambda batch: [batch.release_row(pk, "changed") for pk in releases]
    if model is RepositoryPin:
        pins = list(queryset.values_list("pk", "release_id", "repository_id"))
        return [pk for pk, _, _ in pins], lambda batch: [
            batch.pin_row(r, repo, "changed") for _, r, repo in pins
        ]
    if model is EnvironmentDeployment:
        rows = list(queryset.values_list("pk", "release_id", "environment_id", "status"))

        def report(batch: Any) -> None:
            for _pk, release_id, environment_id, _status in rows:
                batch.deployment_row(release_id, environment_id, "changed")
            if _LIVE_FIELDS & values.keys():
                _note_live(rows, batch.source)

        return [row[0] for row in rows], report
    if model is PinDependency:
        links = list(queryset.values_list("pk", "pin_id"))
        return [pk for pk, _ in links], lambda batch: [
            batch.dependency_row(pin_id) for _, pin_id in links
        ]
    raise TypeError(f"{model.__name__} is not a release model")


def _note_live(before: list[tuple[int, int, int, str]], source: str) -> None:
    """Note to the promotion gate each deployment of ``before`` (its rows as they were) that
    is live now and was not live in the same release and environment, as the ``post_save``
    receiver does for a save. Read back after the update: its values may be expressions."""
    from .models import LIVE_STATUSES, EnvironmentDeployment
    from .promotion.transitions import note_live

    was_live = {
        pk: (release_id, environment_id)
        for pk, release_id, environment_id, status in before
        if status in LIVE_STATUSES
    }
    live = EnvironmentDeployment.objects.filter(
        pk__in=[row[0] for row in before], status__in=LIVE_STATUSES
    ).values_list("pk", "release_id", "environment_id")
    for pk, release_id, environment_id in live:
        if was_live.get(pk) != (release_id, environment_id):
            note_live(release_id, environment_id, source)


class ReleaseQuerySet(ChangeReportingQuerySet["Release"]):
    def with_manifest_data(self) -> ReleaseQuerySet:
        """Everything an export needs, in a fixed number of queries whatever the size."""
        from .models import EnvironmentDeployment, PinDependency, RepositoryPin

        return self.prefetch_related(
            models.Prefetch(
                "pins",
                queryset=RepositoryPin.objects.select_related("repository").order_by(
                    "position", "pk"
                ),
            ),
            # A list attribute rather than a related manager: Django would build a queryset per
            # pin to hold the prefetched links, most of an export's time for 1,000 pins.
            models.Prefetch(
                "pins__dependency_links",
                queryset=PinDependency.objects.select_related("depends_on__repository").order_by(
                    "position", "pk"
                ),
                to_attr="manifest_links",
            ),
            models.Prefetch(
                "deployments",
                queryset=EnvironmentDeployment.objects.select_related("environment").order_by(
                    "position", "pk"
                ),
            ),
        )
