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
    ``bulk_update`` is made of it, and the importer reports what it bulk-updated itself), so it
    reports nothing. Outside any batch it is a :data:`~releases.changes.DIRECT` batch of its own
    that reports every affected release as changed (rows by their ids as they were before the
    update) and rechecks its offline findings. It bypasses ``save()``, so it does not reset the
    online results of a pin whose tag or commit it changes: write pins with ``save()``.
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
            report = _affected_rows(self)
            count = super().update(**kwargs)
            if count:
                report(batch)
            return count


def _affected_rows(queryset: models.QuerySet[Any]) -> Any:
    """Read which releases (and rows of theirs) ``queryset`` holds; a function that reports
    them to a batch as changed."""
    from .models import EnvironmentDeployment, PinDependency, Release, RepositoryPin

    model = queryset.model
    if model is Release:
        releases = list(queryset.values_list("pk", flat=True))
        return lambda batch: [batch.release_row(pk, "changed") for pk in releases]
    if model is RepositoryPin:
        pins = list(queryset.values_list("release_id", "repository_id"))
        return lambda batch: [batch.pin_row(r, repo, "changed") for r, repo in pins]
    if model is EnvironmentDeployment:
        rows = list(queryset.values_list("release_id", "environment_id"))
        return lambda batch: [batch.deployment_row(r, env, "changed") for r, env in rows]
    if model is PinDependency:
        links = list(queryset.values_list("pin_id", flat=True))
        return lambda batch: [batch.dependency_row(pin_id) for pin_id in links]
    raise TypeError(f"{model.__name__} is not a release model")


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
