"""What the API answers, built from a fixed number of queries whatever the size of a release.

Plain dictionaries from :mod:`releases.exporting`'s rows (the serializers in
:mod:`releases.api.serializers` describe them for the OpenAPI schema).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from typing import Any

from django.db.models import CharField, Count, Model, Prefetch, QuerySet
from django.db.models.functions import Cast
from django.urls import reverse
from rest_framework.request import Request

from registry.models import Environment, Repository
from releases import revision_cache
from releases.exporting import EXPORT_CACHE_SECONDS, manifest_for
from releases.manifests import format_timestamp, manifest_to_tree
from releases.models import (
    LIVE_STATUSES,
    EnvironmentDeployment,
    PinDependency,
    Release,
    RepositoryPin,
    ValidationState,
)
from releases.promotion.models import PromotionOverride
from releases.validation.models import ValidationRun
from releases.what_changed import evidence_changes

from .filters import overall_state, with_validation_counts
from .renderers import RawJSON, raw_json

#: Keys a response adds to a release's manifest tree; a client sending them back (a GET, edit,
#: PUT round trip) has them ignored.
READ_ONLY_RELEASE_KEYS = (
    "revision",
    "validation",
    "findings",
    "recorded_at",
    "updated_at",
    "links",
)
READ_ONLY_PIN_KEYS = ("state", "findings", "validated_at")


def _time(value: dt.datetime | None) -> str | None:
    return format_timestamp(value) if value is not None else None


def _url(request: Request | None, name: str, **kwargs: str) -> str:
    path = reverse(f"api:{name}", kwargs=kwargs)
    return request.build_absolute_uri(path) if request is not None else path


def release_links(request: Request | None, version: str) -> dict[str, str]:
    return {
        name: _url(request, f"release-{name}", version=version)
        for name in ("detail", "manifest", "pins", "deployments", "history", "evidence")
    }


def validation_counts(release: Release) -> dict[str, Any]:
    counts = {state: getattr(release, f"n_{state}") for state in ValidationState.values}
    return {"state": overall_state(counts), "pins": counts}


# --- releases -------------------------------------------------------------------------------


#: The columns of a release the list reads for a page: what identifies its cached entry. The
#: two times are read as the database's text (what identifies them; no parsing per row).
LIST_COLUMNS = ("pk", "version", "revision", "recorded_key", "updated_key")
_IDENTITY = {
    "recorded_key": Cast("recorded_at", CharField()),
    "updated_key": Cast("updated_at", CharField()),
}


def list_rows(releases: QuerySet[Release], *extra: str) -> QuerySet[Any, Any]:
    """``releases`` as rows of :data:`LIST_COLUMNS` (and ``extra`` columns)."""
    return releases.annotate(**_IDENTITY).values_list(*LIST_COLUMNS, *extra, named=True)


def release_list_queryset() -> QuerySet[Release]:
    """The releases, newest first; a page's rows are read as :data:`LIST_COLUMNS` and shown
    by :func:`release_summaries`."""
    return Release.objects.order_by("-recorded_at", "-pk")


STATES = tuple(ValidationState.values)

#: How long a release's list entry stays in the cache. Its key holds the release's revision,
#: which every change batch bumps (:mod:`releases.changes`), so an entry is never stale; the
#: time only lets unused entries go.
SUMMARY_CACHE_SECONDS = EXPORT_CACHE_SECONDS


def summary_key(row: Any) -> str:
    """The cache key of a release's list entry (``row`` has :data:`LIST_COLUMNS`): its
    identity (the pk, and the time it was recorded, in case a restored database hands a pk
    out again) and its revision and last save."""
    stamps = f"{row.recorded_key}/{row.updated_key}".replace(" ", "T")  # no spaces in a key
    return f"release-summary:{row.pk}:{stamps}:{row.revision}"


def release_summaries(rows: list[Any], request: Request | None) -> RawJSON:
    """A page of releases (rows with :data:`LIST_COLUMNS`) as the list shows them, as JSON.

    Each entry is kept rendered in the cache (this worker's memory, then Redis in production:
    :mod:`releases.revision_cache`) under :func:`summary_key`, read for the whole page at once.
    The entries missing are built with three queries whatever the number of pins, and cached
    only if their release is still as the page read it (no change committed in between). The
    link, which holds the request's host, is added per request; and the page so assembled is
    kept in this worker's memory under all its entries' keys and the link, so that the same
    page asked again is one lookup.
    """
    keys = {row.pk: summary_key(row) for row in rows}
    # One reverse() for the page: only the version differs.
    detail = _url(request, "release-detail", version="VERSION")
    # The whole page, as this worker last assembled it from the same entries and links.
    page_key = (
        "release-page:" + hashlib.sha256("\n".join([detail, *keys.values()]).encode()).hexdigest()
    )
    page: str | None = revision_cache.get_local(page_key)
    if page is not None:
        return RawJSON(page)
    found: dict[str, str] = revision_cache.get_many(list(keys.values())) if keys else {}
    missing = [row.pk for row in rows if keys[row.pk] not in found]
    if missing:
        built = _build_summaries(missing)
        found.update((keys[pk], text) for pk, (text, _now) in built.items())
        revision_cache.set_many(
            {key: text for pk, (text, key) in built.items() if key == keys[pk]},
            SUMMARY_CACHE_SECONDS,
        )
    entries = [
        # The cached text is the entry without its closing brace; the link closes it.
        found[keys[row.pk]]
        + ',"links":{"detail":'
        + json.dumps(detail.replace("/VERSION/", f"/{row.version}/"), ensure_ascii=False)
        + "}}"
        for row in rows
        if keys[row.pk] in found  # not a release deleted since the page was read
    ]
    page = "[" + ",".join(entries) + "]"
    if not missing:
        revision_cache.set_local(page_key, page)
    return RawJSON(page)


def _build_summaries(ids: list[int]) -> dict[int, tuple[str, str]]:
    """List entries of these releases, rendered without the links and the closing brace, each
    with the :func:`summary_key` of the release as it was read: three queries whatever the
    number of pins. The releases are read last, so an entry whose key is the one its page read
    was built from that state (every change bumps the revision in its own transaction)."""
    counts: dict[int, dict[str, int]] = {pk: dict.fromkeys(STATES, 0) for pk in ids}
    rows = (
        RepositoryPin.objects.filter(release_id__in=ids)
        .order_by()
        .values_list("release_id", "validation_state")
        .annotate(n=Count("pk"))
    )
    for release_id, state, n in rows:
        counts[release_id][state] = n
    environments: dict[int, dict[str, Any]] = {pk: {} for pk in ids}
    deployments = (
        EnvironmentDeployment.objects.filter(release_id__in=ids)
        .order_by("release_id", "position", "pk")
        .values_list("release_id", "environment__name", "namespace", "deployed_at", "status")
    )
    for release_id, name, namespace, deployed_at, status in deployments:
        environments[release_id][name] = {
            "environment": name,
            "namespace": namespace,
            "deployed_at": _time(deployed_at),
            "status": status,
        }
    releases = list_rows(
        Release.objects.filter(pk__in=ids), "created_at", "created_by", "recorded_at", "updated_at"
    )
    return {
        release.pk: (
            raw_json(
                {
                    "version": release.version,
                    "created_at": _time(release.created_at),
                    "created_by": release.created_by,
                    "revision": release.revision,
                    "pin_count": sum(counts[release.pk].values()),
                    "validation": {
                        "state": overall_state(counts[release.pk]),
                        "pins": counts[release.pk],
                    },
                    "environments": environments[release.pk],
                    "recorded_at": _time(release.recorded_at),
                    "updated_at": _time(release.updated_at),
                }
            )[:-1],
            summary_key(release),
        )
        for release in releases
    }


def release_detail(version: str, request: Request | None) -> dict[str, Any]:
    """The release's manifest tree with the read-only fields added (raises
    :class:`Release.DoesNotExist`)."""
    release = with_validation_counts(Release.objects.filter(version=version)).get()
    tree = manifest_to_tree(manifest_for(version))
    states = {
        name: (state, findings, validated_at)
        for name, state, findings, validated_at in RepositoryPin.objects.filter(
            release=release
        ).values_list("repository__name", "validation_state", "findings", "validated_at")
    }
    for entry in tree["repositories"]:
        state, findings, validated_at = states[entry["name"]]
        entry.update(state=state, findings=findings, validated_at=_time(validated_at))
    tree.update(
        revision=release.revision,
        validation=validation_counts(release),
        findings=release.findings,
        recorded_at=_time(release.recorded_at),
        updated_at=_time(release.updated_at),
        links=release_links(request, version),
    )
    return tree


# --- pins and deployments ---------------------------------------------------------------------


def pins_queryset(release: Release) -> QuerySet[RepositoryPin]:
    links = PinDependency.objects.select_related("depends_on__repository").order_by(
        "position", "pk"
    )
    return (
        RepositoryPin.objects.filter(release=release)
        .select_related("repository")
        .prefetch_related(Prefetch("dependency_links", queryset=links, to_attr="manifest_links"))
        .order_by("position", "pk")
    )


def pin_item(pin: RepositoryPin) -> dict[str, Any]:
    return {
        "repository": pin.repository.name,
        "position": pin.position,
        "tag": pin.tag,
        "commit_sha": pin.commit_sha,
        "package_version": pin.package_version,
        "url": pin.url or None,
        "depends_on": [link.depends_on.repository.name for link in pin.manifest_links],  # type: ignore[attr-defined]
        "state": pin.validation_state,
        "findings": pin.findings,
        "validated_at": _time(pin.validated_at),
    }


def deployments_queryset(release: Release) -> QuerySet[EnvironmentDeployment]:
    return (
        EnvironmentDeployment.objects.filter(release=release)
        .select_related("environment")
        .order_by("position", "pk")
    )


def deployment_item(deployment: EnvironmentDeployment) -> dict[str, Any]:
    return {
        "environment": deployment.environment.name,
        "namespace": deployment.namespace,
        "deployed_at": _time(deployment.deployed_at),
        "status": deployment.status,
    }


# --- environments -----------------------------------------------------------------------------


def live_in_environments(
    names: Iterable[str] | None, at: dt.datetime | None, now: dt.datetime
) -> list[dict[str, Any]]:
    """Per environment (all, or ``names``), the releases live there at ``at`` (``None``: now),
    side by side, oldest deployment first. A fixed number of queries."""
    if at is None:
        environments = Environment.objects.all()
        if names is not None:
            environments = environments.filter(name__in=list(names))
        env_names = dict(environments.values_list("pk", "name"))
        rows = (
            EnvironmentDeployment.objects.filter(
                status__in=LIVE_STATUSES, environment_id__in=list(env_names)
            )
            .values_list("environment_id", "release__version", "namespace", "status", "deployed_at")
            .order_by("deployed_at", "release__version")
        )
        live = list(rows)
    else:
        # From the history tables: each row as its last record before ``at`` had it.
        env_history = Environment.history.as_of(at)
        if names is not None:
            env_history = env_history.filter(name__in=list(names))
        env_names = dict(env_history.values_list("id", "name"))
        records = list(
            EnvironmentDeployment.history.as_of(at)
            .filter(status__in=LIVE_STATUSES, environment_id__in=list(env_names))
            .values_list("release_id", "environment_id", "namespace", "status", "deployed_at")
        )
        versions = dict(
            Release.history.as_of(at)
            .filter(id__in={row[0] for row in records})
            .values_list("id", "version")
        )
        live = sorted(
            (
                (environment_id, versions[release_id], namespace, status, deployed_at)
                for release_id, environment_id, namespace, status, deployed_at in records
                if release_id in versions
            ),
            key=lambda row: (row[4] is None, row[4] or now, row[1]),
        )
    by_environment: dict[int, list[dict[str, Any]]] = {pk: [] for pk in env_names}
    for environment_id, version, namespace, status, deployed_at in live:
        by_environment[environment_id].append(
            {
                "version": version,
                "namespace": namespace,
                "status": status,
                "deployed_at": _time(deployed_at),
            }
        )
    moment = format_timestamp(at or now)
    return [
        {"name": env_names[pk], "at": moment, "releases": by_environment[pk]}
        for pk in sorted(env_names, key=lambda pk: env_names[pk])
    ]


# --- history and evidence ---------------------------------------------------------------------

_BOOKKEEPING = {"updated_at", "recorded_at", "position", "source"}


def release_history(release: Release) -> list[dict[str, Any]]:
    """Every history record of the release, its pins and its deployments, newest first:
    when, who (user and the token's name), from where (the change reason), what changed
    (``diff_against`` the record before). Five queries."""
    kinds: list[tuple[str, QuerySet[Any], str | None, type[Model] | None]] = [
        ("release", Release.history.filter(id=release.pk), None, None),
        ("pin", RepositoryPin.history.filter(release_id=release.pk), "repository_id", Repository),
        (
            "deployment",
            EnvironmentDeployment.history.filter(release_id=release.pk),
            "environment_id",
            Environment,
        ),
        # A deployment recorded although its promotion policy refused it: who and why.
        (
            "override",
            PromotionOverride.history.filter(release_id=release.pk),
            "environment_id",
            Environment,
        ),
    ]
    entries: list[tuple[dt.datetime, int, dict[str, Any]]] = []
    for kind, records, name_field, catalogue in kinds:
        rows = list(
            records.select_related("history_user__api_token").order_by("history_date", "history_id")
        )
        names: dict[int, str] = {}
        if catalogue is not None and name_field is not None:
            ids = {getattr(row, name_field) for row in rows}
            names = dict(catalogue._default_manager.filter(pk__in=ids).values_list("pk", "name"))
        previous: dict[int, Any] = {}
        for row in rows:
            before = previous.get(row.id)
            changed: dict[str, Any] = {}
            if before is not None and row.history_type == "~":
                delta = row.diff_against(before, foreign_keys_are_objs=False)
                changed = {
                    change.field: {"old": _plain(change.old), "new": _plain(change.new)}
                    for change in delta.changes
                    if change.field not in _BOOKKEEPING
                }
            previous[row.id] = row
            if row.history_type == "~" and not changed:
                continue  # saved again with nothing of its own changed (bookkeeping only)
            user = row.history_user
            name = row.version if name_field is None else names.get(getattr(row, name_field), "")
            entries.append(
                (
                    row.history_date,
                    row.history_id,
                    {
                        "at": format_timestamp(row.history_date),
                        "kind": kind,
                        "name": name,
                        "action": {"+": "created", "~": "changed", "-": "deleted"}[
                            row.history_type
                        ],
                        "user": user.get_username() if user is not None else None,
                        "token": _token_name(user),
                        "source": row.history_change_reason or "",
                        "changes": changed,
                    },
                )
            )
    # Newest first; the records of one write share a moment: the release, pins, deployments.
    order = {"release": 0, "pin": 1, "deployment": 2, "override": 3}
    entries.sort(key=lambda item: (-item[0].timestamp(), order[item[2]["kind"]], item[1]))
    return [entry for _, _, entry in entries]


def _token_name(user: Any) -> str | None:
    token = getattr(user, "api_token", None) if user is not None else None
    return token.name if token is not None else None


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    return value


def evidence(release: Release, request: Request | None) -> dict[str, Any]:
    """The audit package of one release and the SHA-256 of its canonical JSON.

    The package holds no time of its own (not the time it was asked for), so the same state
    gives the same bytes and the same hash.
    """
    manifest = manifest_to_tree(manifest_for(release.version))
    pins = RepositoryPin.objects.filter(release=release).order_by("position", "pk")
    validation = [
        {
            "repository": name,
            "path": f"repositories[{index}]",
            "state": state,
            "validated_at": _time(validated_at),
            "findings": findings,
        }
        for index, (name, state, validated_at, findings) in enumerate(
            pins.values_list("repository__name", "validation_state", "validated_at", "findings")
        )
    ]
    history = release_history(release)
    package = {
        "version": release.version,
        "revision": release.revision,
        "manifest": manifest,
        "validation": validation,
        "deployments": [entry for entry in history if entry["kind"] == "deployment"],
        "changes": history,
        "what_changed": evidence_changes(release.version),
    }
    # Promotion: the deployments recorded although their policy refused them, with the reason.
    package["promotion_overrides"] = [
        override.as_dict()
        for override in release.promotion_overrides.select_related("environment").order_by(
            "recorded_at", "pk"
        )
    ]
    return {"sha256": package_digest(package), "package": package}


def package_digest(package: dict[str, Any]) -> str:
    """SHA-256 of the package as canonical JSON: sorted keys, no spaces, UTF-8."""
    text = json.dumps(package, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- validation runs --------------------------------------------------------------------------


def validation_run_url(request: Request | None, run_id: int) -> str:
    return _url(request, "validation-run", pk=str(run_id))


def validation_run_item(run: ValidationRun) -> dict[str, Any]:
    """A run as CONTRACT §3 shows it; ``run.release`` is expected selected with it."""
    return {
        "id": run.pk,
        "release": run.release.version,
        "state": run.state,
        "requested_by": run.requested_by,
        "queued_at": _time(run.queued_at),
        "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at),
        "counts": run.counts,
        "results": [
            {
                "repository": result["repository"],
                "path": result["path"],
                "state": result["state"],
                "commit": result["commit"],
                "findings": [
                    {key: finding[key] for key in ("code", "severity", "path", "message")}
                    for finding in result["findings"]
                ],
            }
            for result in run.results
        ],
        "error": run.error,
        "superseded_by": run.superseded_by_id,
    }
