"""Where each release runs: releases x environments, now or at a moment in the past.

The past is read from the history every write leaves (django-simple-history), so the matrix
"as of" a date shows what the registry held then, deleted releases and deployments included.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from registry.models import Environment

from .models import EnvironmentDeployment, Release

_NUMBER = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Cell:
    namespace: str
    status: str
    deployed_at: dt.datetime | None


@dataclass
class Matrix:
    environments: list[str]
    # (release id, version, one cell or None per environment), newest version first.
    rows: list[tuple[int, str, list[Cell | None]]]
    as_of: dt.datetime | None = None


def version_order(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order: 1.2 < 1.10."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in _NUMBER.split(version) if part
    )


def deployment_matrix(as_of: dt.datetime | None = None) -> Matrix:
    """The releases that have a deployment, against every environment. Three queries now;
    four as of a past moment."""
    if as_of is None:
        environments = list(
            Environment.objects.order_by("display_order", "name").values_list("id", "name")
        )
        deployments = list(
            EnvironmentDeployment.objects.values_list(
                "release_id", "environment_id", "namespace", "status", "deployed_at"
            )
        )
        versions = dict(
            Release.objects.filter(pk__in={row[0] for row in deployments}).values_list(
                "id", "version"
            )
        )
    else:
        past = sorted(
            (env.display_order, env.name, env.id) for env in Environment.history.as_of(as_of)
        )
        environments = [(env_id, name) for _, name, env_id in past]
        deployments = [
            (d.release_id, d.environment_id, d.namespace, d.status, d.deployed_at)
            for d in EnvironmentDeployment.history.as_of(as_of)
        ]
        versions = _versions_as_of(as_of)
    columns = {env_id: index for index, (env_id, _) in enumerate(environments)}
    cells: dict[int, list[Cell | None]] = {}
    for release_id, environment_id, namespace, status, deployed_at in deployments:
        if release_id not in versions or environment_id not in columns:
            continue
        row = cells.setdefault(release_id, [None] * len(environments))
        row[columns[environment_id]] = Cell(namespace, status, deployed_at)
    rows = sorted(
        ((release_id, versions[release_id], row) for release_id, row in cells.items()),
        key=lambda item: version_order(item[1]),
        reverse=True,
    )
    return Matrix([name for _, name in environments], rows, as_of)


def _versions_as_of(when: dt.datetime) -> dict[int, str]:
    """Release id -> version of the releases that existed at ``when``."""
    latest: dict[int, tuple[str, str]] = {}
    records = (
        Release.history.filter(history_date__lte=when)
        .order_by("history_date", "history_id")
        .values_list("id", "version", "history_type")
    )
    for release_id, version, kind in records:
        latest[release_id] = (version, kind)
    return {release_id: version for release_id, (version, kind) in latest.items() if kind != "-"}
