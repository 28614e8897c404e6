"""A registry shaped like a real team's: owner/name repositories, 40-hex SHAs, three releases
live side by side, and production guarded by a policy that release 1.5 satisfies until a
scenario breaks one rule of it. Times are set through the data, relative to now."""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import Group, Permission
from django.db.models import F
from django.utils import timezone

from registry.models import Environment
from releases.exporting import export_release
from releases.importing import import_manifest
from releases.manifests import format_timestamp, parse_manifest
from releases.models import EnvironmentDeployment, PinDependency, Release, RepositoryPin
from releases.notion.models import NotionChange
from releases.promotion.models import (
    FreezeWindow,
    PromotionApproval,
    PromotionOverride,
    PromotionPolicy,
)

REPOSITORIES = [
    "pytroll/fogpy",
    "pytroll/satpy",
    "openstack/nova",
    "openstack/oslo.config",
    "gitlab-org/ci/runner",
    "acme/platform-api",
]
MANAGERS = "release managers"


def sha(text: str) -> str:
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()


def manifest_text(version: str, environments: dict[str, dict[str, Any]]) -> str:
    lines = [
        f'version: "{version}"',
        'created_at: "2025-01-15T10:00:00Z"',
        'created_by: "platform-team"',
    ]
    if environments:
        lines.append("environments:")
        for name, entry in environments.items():
            lines.append(f"  {name}:")
            for key in ("deployed_at", "namespace", "status"):
                if entry.get(key) is not None:
                    value = entry[key]
                    if isinstance(value, dt.datetime):
                        value = format_timestamp(value)
                    lines.append(f'    {key}: "{value}"')
    lines.append("repositories:")
    for index, name in enumerate(REPOSITORIES):
        tag = f"v{version}.{index}"
        lines += [
            f'  - name: "{name}"',
            f'    tag: "{tag}"',
            f'    commit_sha: "{sha(name + tag)}"',
            f'    package_version: "{version}.{index}"',
        ]
    lines += ["metadata:", f'  notes: "Release {version} — Zoë\'s build"']
    return "\n".join(lines) + "\n"


def import_text(text: str, source: str) -> Any:
    return import_manifest(parse_manifest(text, source=source), source=source)


def ago(**delta: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(**delta)


def recorded_when_deployed(version: str | None = None) -> None:
    """The history of ``version``'s deployments (every release's, by default) as if the
    registry had recorded each when its ``deployed_at`` says: the soak time counts from the
    record, not from the claim."""
    records = EnvironmentDeployment.history.exclude(deployed_at=None)
    if version is not None:
        records = records.filter(release__version=version)
    records.update(history_date=F("deployed_at"))


def recorded_live_at(
    version: str, environment: str, when: dt.datetime, *, deployed_at: bool = False
) -> None:
    """The registry recorded ``version``'s deployment to ``environment`` at ``when`` (and,
    with ``deployed_at``, it says it was deployed then too)."""
    records = EnvironmentDeployment.history.filter(
        release__version=version, environment__name=environment
    )
    records.update(history_date=when)
    if deployed_at:
        records.update(deployed_at=when)
        EnvironmentDeployment.objects.filter(
            release__version=version, environment__name=environment
        ).update(deployed_at=when)


def validated(version: str) -> None:
    """Every pin of ``version`` checked online and found clean."""
    RepositoryPin.objects.filter(release__version=version).update(
        findings=[], validated_at=timezone.now(), validation_state="valid"
    )


def build_fleet(django_user_model: Any) -> dict[str, Any]:
    """1.3 in production for weeks, 1.4 in staging then production, 1.5 in staging for three
    days: production's policy (staging first for a day, valid and reachable pins, no freeze
    open, two approvals of release managers) allows 1.5."""
    import_text(
        manifest_text(
            "1.3",
            {
                "staging": {
                    "namespace": "staging-v1.3",
                    "deployed_at": ago(days=60),
                    "status": "retired",
                },
                "production": {"namespace": "prod-v1.3", "deployed_at": ago(days=40)},
            },
        ),
        "manifests/v1.3.yaml",
    )
    import_text(
        manifest_text(
            "1.4",
            {
                "staging": {"namespace": "staging-v1.4", "deployed_at": ago(days=10)},
                "production": {"namespace": "prod-v1.4", "deployed_at": ago(days=5)},
            },
        ),
        "manifests/v1.4.yaml",
    )
    import_text(
        manifest_text(
            "1.5", {"staging": {"namespace": "staging-v1.5", "deployed_at": ago(days=3)}}
        ),
        "manifests/v1.5.yaml",
    )
    recorded_when_deployed()
    for version in ("1.3", "1.4", "1.5"):
        validated(version)
    Environment.objects.get_or_create(name="qa", defaults={"display_order": 99})
    managers = Group.objects.create(name=MANAGERS)
    people = {}
    for name in ("ana", "bjørn", "chen"):
        user = django_user_model.objects.create_user(name, f"{name}@example.invalid", "pw")
        people[name] = user
    people["ana"].groups.add(managers)
    people["bjørn"].groups.add(managers)
    production = Environment.objects.get(name="production")
    policy = PromotionPolicy.objects.create(
        environment=production,
        soak_time=dt.timedelta(days=1),
        require_valid_pins=True,
        unreachable_blocks=True,
        required_approvals=2,
        approval_group=managers,
    )
    policy.upstream.add(Environment.objects.get(name="staging"))
    FreezeWindow.objects.create(
        policy=policy,
        name="year-end freeze",
        starts_at=timezone.now() + dt.timedelta(days=20),
        ends_at=timezone.now() + dt.timedelta(days=30),
    )
    release = Release.objects.get(version="1.5")
    for name in ("ana", "bjørn", "chen"):  # chen is no release manager: hers does not count
        PromotionApproval.objects.create(
            release=release, environment=production, user=people[name], approved_at=ago(hours=1)
        )
    return {"policy": policy, "people": people, "managers": managers}


# --- one broken rule each -------------------------------------------------------------------


def upstream_missing(fleet: dict[str, Any]) -> None:
    policy = fleet["policy"]
    policy.soak_time = dt.timedelta(0)
    policy.save()
    policy.upstream.add(Environment.objects.get(name="qa"))


def soak_not_over(fleet: dict[str, Any]) -> None:
    fleet["policy"].soak_time = dt.timedelta(days=7)  # 1.5 has been in staging for 3 days
    fleet["policy"].save()


def invalid_pin(fleet: dict[str, Any]) -> None:
    finding = {
        "code": "sha-mismatch",
        "severity": "error",
        "path": "repositories[2].commit_sha",
        "message": "the tag v1.5.2 points at another commit",
    }
    RepositoryPin.objects.filter(release__version="1.5", repository__name="openstack/nova").update(
        findings=[finding], validation_state="invalid"
    )


def unreachable_pin(fleet: dict[str, Any]) -> None:
    finding = {
        "code": "unreachable",
        "severity": "error",
        "path": "repositories[4]",
        "message": "could not list the remote",
    }
    RepositoryPin.objects.filter(
        release__version="1.5", repository__name="gitlab-org/ci/runner"
    ).update(findings=[finding], validation_state="unreachable")


def frozen_now(fleet: dict[str, Any]) -> None:
    FreezeWindow.objects.create(
        policy=fleet["policy"],
        name="incident freeze",
        starts_at=ago(hours=1),
        ends_at=timezone.now() + dt.timedelta(hours=1),
    )


#: A zone far from UTC (and from the server's), whose local midnight is not UTC's.
ZONE = "Pacific/Auckland"


def recurring_across_midnight(open_now: bool = True) -> dict[str, Any]:
    """A weekly window that starts at 23:00 Auckland time on the local day before today and
    lasts until an hour from now: across local midnight, open now (or, with ``open_now``
    false, the same window on another weekday: closed)."""
    zone = zoneinfo.ZoneInfo(ZONE)
    local_now = timezone.now().astimezone(zone)
    start = dt.datetime.combine(local_now.date() - dt.timedelta(days=1), dt.time(23, 0), zone)
    duration = (local_now - start) + dt.timedelta(hours=1)
    day = start.weekday() if open_now else (start.weekday() + 3) % 7
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    return {
        "weekdays": names[day],
        "start_time": dt.time(23, 0),
        "duration": duration,
        "time_zone": ZONE,
    }


def frozen_weekly(fleet: dict[str, Any]) -> None:
    FreezeWindow.objects.create(
        policy=fleet["policy"], name="weekly maintenance", **recurring_across_midnight()
    )


def approvals_missing(fleet: dict[str, Any]) -> None:
    PromotionApproval.objects.filter(user=fleet["people"]["bjørn"]).delete()


SCENARIOS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "upstream required": (upstream_missing, "upstream"),
    "soak time not over": (soak_not_over, "soak-time"),
    "invalid pin": (invalid_pin, "valid-pins"),
    "unreachable pin": (unreachable_pin, "reachable-pins"),
    "freeze window": (frozen_now, "freeze-window"),
    "recurring freeze across midnight in Pacific/Auckland": (frozen_weekly, "freeze-window"),
    "approvals missing": (approvals_missing, "approvals"),
}


def production_manifest(version: str = "1.5") -> str:
    """The stored release's manifest, now also deployed to production."""
    text = export_release(version)
    entry = (
        "  production:\n"
        f'    deployed_at: "{format_timestamp(timezone.now().replace(microsecond=0))}"\n'
        f'    namespace: "prod-v{version}"\n'
    )
    return text.replace("repositories:\n", entry + "repositories:\n", 1)


def snapshot() -> dict[str, Any]:
    """What a refused write must leave as it was."""
    models = (Release, RepositoryPin, PinDependency, EnvironmentDeployment)
    return {
        "rows": {model.__name__: model.objects.count() for model in models},
        "history": {model.__name__: model.history.count() for model in models},
        "revisions": dict(Release.objects.values_list("version", "revision")),
        "deployments": sorted(
            EnvironmentDeployment.objects.values_list(
                "release__version", "environment__name", "status"
            )
        ),
        "overrides": PromotionOverride.objects.count(),
        "outbox": NotionChange.objects.count(),
        "exports": {v: export_release(v) for v in ("1.3", "1.4", "1.5")},
    }


def grant_override(user: Any) -> None:
    user.user_permissions.add(Permission.objects.get(codename="override_promotion"))
