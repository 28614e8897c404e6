"""Past states of releases, rebuilt from the history every write leaves behind."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

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


# --- the timeline of one release ----------------------------------------------------------

# Records of one batch are written within moments of each other (the importer dates them all
# alike; admin saves one by one): records this close, by the same user for the same reason,
# are shown as one change.
SAME_CHANGE_WITHIN = dt.timedelta(seconds=2)

_RELEASE_FIELDS = (
    "version",
    "created_at",
    "created_by",
    "notes",
    "changelog_url",
    "metadata_extra",
)
_PIN_FIELDS = ("tag", "commit_sha", "package_version", "url", "position", "validation_state")
_DEPLOYMENT_FIELDS = ("namespace", "status", "deployed_at", "position")
_KINDS = {"+": "added", "~": "changed", "-": "removed"}


@dataclass
class TimelineEntry:
    """One change of a release: when, by whom, from where, and what it did."""

    when: dt.datetime
    user: str
    reason: str
    lines: list[str] = field(default_factory=list)


def release_timeline(release_id: int, *, limit: int = 100) -> list[TimelineEntry]:
    """The history of a release with its pins, dependencies and deployments, newest first,
    as at most ``limit`` changes. Seven queries, whatever the size of the release."""
    records: list[tuple[dt.datetime, int, Any, str, str]] = []  # when, id, user, reason, line

    def add(record: Any, line: str) -> None:
        user = record.history_user.get_username() if record.history_user is not None else ""
        records.append(
            (record.history_date, record.history_id, user, record.history_change_reason or "", line)
        )

    def walk(queryset: Any, key: str, label: Any, fields: tuple[str, ...]) -> None:
        previous: dict[Any, Any] = {}
        for record in queryset.select_related("history_user").order_by(
            "history_date", "history_id"
        ):
            before = previous.get(getattr(record, key))
            previous[getattr(record, key)] = record
            kind = record.history_type
            if kind == "~" and before is not None:
                changed = [
                    f"{name} {_show(getattr(before, name))} → {_show(getattr(record, name))}"
                    for name in fields
                    if getattr(before, name) != getattr(record, name)
                ]
                if not changed:
                    continue
                add(record, f"{label(record)} changed: " + ", ".join(changed))
            else:
                add(record, f"{label(record)} {_KINDS[kind]}")

    walk(
        Release.history.filter(id=release_id),
        "id",
        lambda r: f"release {r.version}",
        _RELEASE_FIELDS,
    )
    pins = RepositoryPin.history.filter(release_id=release_id)
    pin_repositories = dict(pins.values_list("id", "repository_id").distinct())
    names = dict(
        Repository.objects.filter(pk__in=set(pin_repositories.values())).values_list("id", "name")
    )
    pin_names = {pin_id: names.get(repo_id, "?") for pin_id, repo_id in pin_repositories.items()}
    walk(
        pins,
        "id",
        lambda r: (
            f"pin {pin_names.get(r.id, '?')}" + (f" {r.tag}" if r.history_type != "~" else "")
        ),
        _PIN_FIELDS,
    )
    walk(
        PinDependency.history.filter(pin_id__in=list(pin_names)),
        "id",
        lambda r: (
            f"dependency {pin_names.get(r.pin_id, '?')} → {pin_names.get(r.depends_on_id, '?')}"
        ),
        ("position",),
    )
    deployments = EnvironmentDeployment.history.filter(release_id=release_id)
    environments = dict(Environment.objects.values_list("id", "name"))
    walk(
        deployments,
        "id",
        lambda r: (
            f"deployment {environments.get(r.environment_id, '?')}"
            + (f" ({r.namespace}, {r.status})" if r.history_type != "~" else "")
        ),
        _DEPLOYMENT_FIELDS,
    )
    records.sort(key=lambda item: (item[0], item[1]))
    entries: list[TimelineEntry] = []
    for when, _, user, reason, line in records:
        last = entries[-1] if entries else None
        if (
            last is not None
            and (last.user, last.reason) == (user, reason)
            and when - last.when <= SAME_CHANGE_WITHIN
        ):
            last.lines.append(line)
            last.when = when
        else:
            entries.append(TimelineEntry(when, user, reason, [line]))
    entries.reverse()
    return entries[:limit]


def _show(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    text = str(value)
    return repr(text) if text == "" or len(text) > 60 else text
