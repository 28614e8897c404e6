"""Querysets that declare what each use of a release loads."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import models

if TYPE_CHECKING:
    from .models import Release  # noqa: F401 - named in a string, models import this module


class ReleaseQuerySet(models.QuerySet["Release"]):
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
