"""Past states of releases, rebuilt from the history every write leaves behind."""

from __future__ import annotations

import datetime as dt

from registry.models import Environment, Repository

from .exporting import build_manifest
from .manifests import Manifest
from .models import EnvironmentDeployment, PinDependency, Release, RepositoryPin


def manifest_as_of(version: str, when: dt.datetime) -> Manifest | None:
    """The manifest of release ``version`` as the registry held it at ``when``.

    ``None`` when the release did not exist then (or had been deleted). Six queries, whatever
    the size of the release.
    """
    release = _release_as_of(version, when)
    if release is None:
        return None
    pins = list(
        RepositoryPin.history.as_of(when).filter(release_id=release.pk).order_by("position", "id")
    )
    pin_ids = [pin.pk for pin in pins]
    names = _names_as_of(Repository, [pin.repository_id for pin in pins], when)
    pin_names = {pin.pk: names[pin.repository_id] for pin in pins}
    depends_on: dict[int, list[str]] = {pin_id: [] for pin_id in pin_ids}
    links = PinDependency.history.as_of(when).filter(pin_id__in=pin_ids).order_by("position", "id")
    for link in links:
        if link.depends_on_id in pin_names:
            depends_on[link.pin_id].append(pin_names[link.depends_on_id])
    deployments = list(
        EnvironmentDeployment.history.as_of(when)
        .filter(release_id=release.pk)
        .order_by("position", "id")
    )
    environments = _names_as_of(
        Environment, [deployment.environment_id for deployment in deployments], when
    )
    return build_manifest(
        release,
        [(pin, pin_names[pin.pk], depends_on[pin.pk]) for pin in pins],
        [(deployment, environments[deployment.environment_id]) for deployment in deployments],
    )


def _names_as_of(
    model: type[Repository] | type[Environment], ids: list[int], when: dt.datetime
) -> dict[int, str]:
    """The names of catalogue rows at ``when``; a row with no record by then (dated a little
    later by a concurrent import, or created before history was kept) by its current name."""
    names: dict[int, str] = dict(
        model.history.as_of(when).filter(id__in=ids).values_list("id", "name")
    )
    missing = set(ids) - set(names)
    if missing:
        names.update(model._default_manager.filter(pk__in=missing).values_list("pk", "name"))
    return names


def _release_as_of(version: str, when: dt.datetime) -> Release | None:
    """The release row as its last history record before ``when`` has it.

    Built from the record itself: ``Release.history.as_of`` would query the live row for
    the fields history does not keep (the revision).
    """
    record = (
        Release.history.filter(version=version, history_date__lte=when)
        .order_by("-history_date", "-history_id")
        .first()
    )
    if record is None or record.history_type == "-":
        return None
    return Release(
        **{field.attname: getattr(record, field.attname) for field in record.tracked_fields}
    )
