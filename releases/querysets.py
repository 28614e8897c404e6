"""Querysets that declare what each use of a release loads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

if TYPE_CHECKING:
    from .models import Release  # noqa: F401 - named in a string, models import this module

_Model = TypeVar("_Model", bound=models.Model, covariant=True)


class ChangeReportingQuerySet(models.QuerySet[_Model]):
    """A queryset of a release model whose bulk writes report to :mod:`releases.changes`.

    ``delete()`` runs in one change batch (the open one, or one of its own): deleting releases
    is one ``deleted`` change per release, with its pins and deployments, and one
    announcement each, whatever the number of rows.

    ``update()`` inside an open batch is the batch writer's own business (Django's
    ``bulk_update`` is made of it, and the importer reports what it bulk-updated itself and
    notes the deployments it makes live for the promotion gate), so it reports nothing.
    Outside any batch it is a :data:`~releases.changes.DIRECT` batch of its own that reports
    every affected release as changed (rows by their ids as they were before the update) and
    rechecks its offline findings. A deployment it moves into a live status (or, live, into
    another release or environment) is put to the promotion gate when that batch ends, as a
    saved one is: a refusal raises and the update is rolled back. It bypasses ``save()``, so it
    does not reset the online results of a pin whose tag or commit it changes: write pins with
    ``save()``.
    """

    def delete(self) -> tuple[int, dict[str, int]]:
        from . import changes

        with changes.batch_if_none():
            return super().delete()

    def update(self, **kwargs: Any) -> int:
        from . import changes

        if changes.current() is not None:
            return super().update(**kwargs)
        with changes.batch(changes.DIRECT) as batch:
            report = _affected_rows(self, kwargs)
            count = super().update(**kwargs)
            if count:
                report(batch)
            return count


#: The fields whose update can make a deployment live where it was not.
_LIVE_FIELDS = {"status", "release", "release_id", "environment", "environment_id"}


def _affected_rows(queryset: models.QuerySet[Any], values: dict[str, Any]) -> Any:
    """Read which releases (and rows of theirs) ``queryset`` holds before it is updated with
    ``values``; a function that reports them to a batch as changed (once updated)."""
    from .models import EnvironmentDeployment, PinDependency, Release, RepositoryPin

    model = queryset.model
    if model is Release:
        releases = list(queryset.values_list("pk", flat=True))
        return lambda batch: [batch.release_row(pk, "changed") for pk in releases]
    if model is RepositoryPin:
        pins = list(queryset.values_list("release_id", "repository_id"))
        return lambda batch: [batch.pin_row(r, repo, "changed") for r, repo in pins]
    if model is EnvironmentDeployment:
        rows = list(queryset.values_list("pk", "release_id", "environment_id", "status"))

        def report(batch: Any) -> None:
            for _pk, release_id, environment_id, _status in rows:
                batch.deployment_row(release_id, environment_id, "changed")
            if _LIVE_FIELDS & values.keys():
                _note_live(rows, batch.source)

        return report
    if model is PinDependency:
        links = list(queryset.values_list("pin_id", flat=True))
        return lambda batch: [batch.dependency_row(pin_id) for pin_id in links]
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
