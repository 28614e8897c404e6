"""The Notion "Release Views" of CONTRACT §4: which properties, and their values.

Pure functions of a :class:`ReleaseSnapshot` (read from the database at send time by
:func:`load_release`): the property schema each data source must have, and the property
values of each page, in the shapes Notion's API takes. A text longer than Notion allows (2,000
characters per text object) is cut with a marker, never refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.urls import reverse

from registry.models import Environment

from ..models import (
    LIVE_STATUSES,
    DeploymentStatus,
    EnvironmentDeployment,
    Release,
    RepositoryPin,
    ValidationState,
)

TEXT_LIMIT = 2000
CUT_MARKER = " […cut]"

# The pin's state as Notion readers see it (CONTRACT §4).
VALIDATION_NAMES = {
    ValidationState.VALID: "valid",
    ValidationState.WARNING: "warning",
    ValidationState.INVALID: "invalid",
    ValidationState.UNREACHABLE: "unreachable",
    ValidationState.UNCHECKED: "not checked",
}
VALIDATION_COLOURS = {
    "valid": "green",
    "warning": "yellow",
    "invalid": "red",
    "unreachable": "orange",
    "not checked": "gray",
}
# Worst first: a release's state is its worst pin's.
VALIDATION_ORDER = ["invalid", "unreachable", "warning", "not checked", "valid"]
STATUS_NAMES = {status.value: status.value.replace("_", " ") for status in DeploymentStatus}
RELATION = "Product version"


@dataclass(frozen=True)
class PinSnapshot:
    repository: str
    tag: str
    commit: str | None
    package_version: str | None
    validation: str
    validated_at: datetime | None


@dataclass(frozen=True)
class DeploymentSnapshot:
    environment: str
    status: str
    deployed_at: datetime | None
    namespace: str
    #: The reason of the last promotion override that recorded it, if one did.
    override: str | None = None


@dataclass(frozen=True)
class ReleaseSnapshot:
    id: int
    version: str
    created_at: datetime | None
    created_by: str | None
    notes: str | None
    pins: dict[str, PinSnapshot]
    deployments: tuple[DeploymentSnapshot, ...]

    @property
    def live_in(self) -> list[str]:
        return [d.environment for d in self.deployments if d.status in LIVE_STATUSES]

    @property
    def validation(self) -> str:
        names = {VALIDATION_NAMES[ValidationState(p.validation)] for p in self.pins.values()}
        return next((name for name in VALIDATION_ORDER if name in names), "not checked")


def load_release(release_id: int) -> ReleaseSnapshot | None:
    """The release's state now (3 queries), ``None`` once it is deleted."""
    release = (
        Release.objects.filter(pk=release_id)
        .values("id", "version", "created_at", "created_by", "notes")
        .first()
    )
    if release is None:
        return None
    pins = RepositoryPin.objects.filter(release_id=release_id).values(
        "repository__name",
        "tag",
        "commit_sha",
        "package_version",
        "validation_state",
        "validated_at",
    )
    deployments = (
        EnvironmentDeployment.objects.filter(release_id=release_id)
        .annotate(override=last_override_reason())
        .values("environment__name", "status", "deployed_at", "namespace", "override")
    )
    return ReleaseSnapshot(
        id=release["id"],
        version=release["version"],
        created_at=release["created_at"],
        created_by=release["created_by"],
        notes=release["notes"],
        pins={
            p["repository__name"]: PinSnapshot(
                p["repository__name"],
                p["tag"],
                p["commit_sha"],
                p["package_version"],
                p["validation_state"],
                p["validated_at"],
            )
            for p in pins
        },
        deployments=tuple(
            DeploymentSnapshot(
                d["environment__name"],
                d["status"],
                d["deployed_at"],
                d["namespace"],
                d["override"],
            )
            for d in deployments
        ),
    )


def last_override_reason() -> Any:
    """The reason of the latest promotion override of a deployment (in its own query)."""
    from django.db.models import OuterRef, Subquery

    from ..promotion.models import PromotionOverride

    return Subquery(
        PromotionOverride.objects.filter(
            release_id=OuterRef("release_id"), environment_id=OuterRef("environment_id")
        )
        .order_by("-recorded_at", "-pk")
        .values("reason")[:1]
    )


def environment_names() -> list[str]:
    return list(Environment.objects.values_list("name", flat=True))


def pin_key(version: str, repository: str) -> str:
    """How the sync finds a pin's page: ``<version>:<repository>``."""
    return f"{version}:{repository}"


# --- values -------------------------------------------------------------------------------


def cut(text: str, limit: int = TEXT_LIMIT) -> str:
    """``text``, cut to ``limit`` characters with a marker when longer."""
    if len(text) <= limit:
        return text
    return text[: limit - len(CUT_MARKER)] + CUT_MARKER


def text(value: str | None) -> dict[str, Any]:
    return {"rich_text": [{"type": "text", "text": {"content": cut(value)}}] if value else []}


def title(value: str) -> dict[str, Any]:
    return {"title": [{"type": "text", "text": {"content": cut(value)}}]}


def select(value: str | None) -> dict[str, Any]:
    # Notion refuses commas in option names.
    return {"select": {"name": cut(value.replace(",", " "), 100)} if value else None}


def multi_select(values: Iterable[str]) -> dict[str, Any]:
    return {"multi_select": [{"name": cut(v.replace(",", " "), 100)} for v in values]}


def when(value: date | datetime | None) -> dict[str, Any]:
    return {"date": {"start": value.isoformat()} if value else None}


def link(value: str | None) -> dict[str, Any]:
    return {"url": value or None}


def registry_link(release_id: int) -> str | None:
    if not settings.REGISTRY_PUBLIC_URL:
        return None
    return settings.REGISTRY_PUBLIC_URL + reverse(
        "admin:releases_release_change", args=[release_id]
    )


def pin_properties(
    release: ReleaseSnapshot,
    pin: PinSnapshot,
    environments: list[str],
    release_page_id: str | None,
    *,
    related: bool,
) -> dict[str, Any]:
    """The values of a pin's page (CONTRACT §4)."""
    deployments = {d.environment: d for d in release.deployments}
    properties: dict[str, Any] = {
        "Name": title(f"{pin.repository} {pin.tag}"),
        "Repository": text(pin.repository),
        "Tag": text(pin.tag),
        "Commit": text(pin.commit),
        "Package version": text(pin.package_version),
        "Version": text(release.version),
        "Validation": select(VALIDATION_NAMES[ValidationState(pin.validation)]),
        "Validated at": when(pin.validated_at),
        "Live in": multi_select(release.live_in),
        # A deployment its promotion policy refused, recorded anyway, says so and why.
        "Namespaces": text(
            "; ".join(
                f"{d.environment}: {d.namespace}"
                + (f" (promotion override: {d.override})" if d.override else "")
                for d in release.deployments
            )
        ),
        "Registry key": text(pin_key(release.version, pin.repository)),
    }
    for environment in environments:
        deployment = deployments.get(environment)
        properties[f"{environment} status"] = select(
            STATUS_NAMES.get(deployment.status, deployment.status) if deployment else None
        )
        properties[f"{environment} deployed at"] = when(
            deployment.deployed_at if deployment else None
        )
    if settings.REGISTRY_PUBLIC_URL:
        properties["Registry link"] = link(registry_link(release.id))
    if related:
        properties[RELATION] = {"relation": [{"id": release_page_id}] if release_page_id else []}
    return properties


def release_properties(release: ReleaseSnapshot) -> dict[str, Any]:
    """The values of a release's page in Product Versions (CONTRACT §4)."""
    return {
        "Name": title(release.version),
        "Created at": when(release.created_at),
        "Created by": text(release.created_by),
        "Notes": text(release.notes),
        "Validation": select(release.validation),
        "Live in": multi_select(release.live_in),
        "Registry key": text(release.version),
    }


# --- schemas ------------------------------------------------------------------------------


def _select_schema(names: Iterable[str]) -> dict[str, Any]:
    return {
        "select": {
            "options": [{"name": n, "color": VALIDATION_COLOURS.get(n, "default")} for n in names]
        }
    }


def views_schema(environments: list[str], versions_source: str | None) -> dict[str, Any]:
    """The properties the Release Views data source must have (besides its title)."""
    schema: dict[str, Any] = {
        "Repository": {"rich_text": {}},
        "Tag": {"rich_text": {}},
        "Commit": {"rich_text": {}},
        "Package version": {"rich_text": {}},
        "Version": {"rich_text": {}},
        "Validation": _select_schema(VALIDATION_ORDER),
        "Validated at": {"date": {}},
        "Live in": {"multi_select": {"options": [{"name": e} for e in environments]}},
        "Namespaces": {"rich_text": {}},
        "Registry key": {"rich_text": {}},
    }
    for environment in environments:
        schema[f"{environment} status"] = _select_schema(STATUS_NAMES.values())
        schema[f"{environment} deployed at"] = {"date": {}}
    if settings.REGISTRY_PUBLIC_URL:
        schema["Registry link"] = {"url": {}}
    if versions_source:
        schema[RELATION] = {"relation": {"data_source_id": versions_source, "single_property": {}}}
    return schema


def versions_schema(environments: list[str]) -> dict[str, Any]:
    """The properties the Product Versions data source must have (besides its title)."""
    return {
        "Created at": {"date": {}},
        "Created by": {"rich_text": {}},
        "Notes": {"rich_text": {}},
        "Validation": _select_schema(VALIDATION_ORDER),
        "Live in": {"multi_select": {"options": [{"name": e} for e in environments]}},
        "Registry key": {"rich_text": {}},
    }


# --- comparing ----------------------------------------------------------------------------


def plain(value: dict[str, Any]) -> Any:
    """A property value, request- or response-shaped, as a plain comparable value."""
    kind = value.get("type") or next(iter(value))
    data = value.get(kind)
    if kind in {"title", "rich_text"}:
        return "".join((item.get("text") or {}).get("content", "") for item in data or [])
    if kind == "select":
        return data["name"] if data else None
    if kind == "multi_select":
        return [item["name"] for item in data or []]
    if kind == "date":
        if not data or not data.get("start"):
            return None
        try:
            return datetime.fromisoformat(data["start"].replace("Z", "+00:00"))
        except ValueError:
            return data["start"]
    if kind == "relation":
        return [item["id"].replace("-", "") for item in data or []]
    return data


def differences(wanted: dict[str, Any], page: dict[str, Any]) -> list[str]:
    """The properties of ``wanted`` whose value on ``page`` (a page object) differs."""
    found = page.get("properties", {})
    return [
        name
        for name, value in wanted.items()
        if name not in found or plain(value) != plain(found[name])
    ]


def digest(properties: dict[str, Any]) -> str:
    """A hash of what is sent: an unchanged object is not sent again."""
    data = json.dumps(properties, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode()).hexdigest()
