"""A generated corpus shaped like a large real release history, for tests and ``bench/``.

Several releases of a few hundred ``org/name`` repositories each (owners and project names as
they occur on GitHub and OpenDev), 40-hex commit SHAs, tags such as ``v2.6.1``, ``nova-27.1.0``
and ``9.4.0``, package versions that match their tags (a few repositories are no package),
``depends_on`` links without cycles, a few explicit URLs, deployments in several environments
and unicode in the metadata. Each release moves on from the one before: some pins get new
versions, a few repositories come and go. ``nested_release`` gives GitLab's
``group/subgroup/name`` instead.

Deterministic for a given seed, and valid: ``check_manifest`` finds nothing in any of them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import replace
from pathlib import Path

from releases.manifests import EnvironmentEntry, Manifest, RepositoryEntry, dump_manifest
from releases.manifests.rules import last_segment

OWNERS = (
    "openstack", "pytroll", "kubernetes-sigs", "apache", "grafana", "hashicorp", "mozilla",
    "pallets", "psf", "numpy", "scipy", "ansible-collections", "prometheus", "canonical",
    "redhat-developer", "Azure", "aws-samples", "googleapis", "pydata", "jupyterhub",
    "open-telemetry", "cloud-custodian", "encode", "tiangolo", "celery", "django", "ossf",
)  # fmt: skip
PROJECTS = (
    "nova", "neutron", "keystone", "glance", "cinder", "swift", "horizon", "heat", "ironic",
    "oslo.config", "oslo.db", "oslo.messaging", "fogpy", "satpy", "pyresample", "trollflow",
    "posttroll", "pytroll-schedule", "python-client", "sdk", "cli", "operator", "exporter",
    "agent", "helm-charts", "terraform-provider", "docs", "api-gateway", "event_router",
    "ML_model_dockers", "chempipe-plugins", "data.pipeline", "kombu", "billiard", "werkzeug",
    "jinja", "click", "itsdangerous", "markupsafe", "xarray", "dask", "zarr", "loki", "tempo",
    "mimir", "vault", "consul", "nomad", "packer", "starlette", "httpx", "uvicorn",
)  # fmt: skip
NESTED_GROUPS = (
    "gitlab-org/quality", "gitlab-org/security-products/analyzers", "acme/platform/infra",
    "acme/data-science", "eumetsat/tools/satellite", "dwd/nwp/post-processing",
)  # fmt: skip
# Unicode as people write it (a full-width colon, Cyrillic letters that look Latin).
NOTES = (
    "Release für das Rechenzentrum Nord — Q3 ✓",
    "Mise en production : corrections de sécurité 🔒",
    "发布说明：性能改进",  # noqa: RUF001
    "Выпуск с исправлениями · 修正版",  # noqa: RUF001
)
CREATED_AT = dt.datetime(2025, 1, 15, 10, 0, tzinfo=dt.UTC)


def _sha(*parts: str) -> str:
    return hashlib.sha1("\0".join(parts).encode(), usedforsecurity=False).hexdigest()


def _version(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(0, 30), rng.randint(0, 20), rng.randint(0, 12)


def _entry(name: str, version: tuple[int, int, int], style: int, package: bool) -> RepositoryEntry:
    text = ".".join(map(str, version))
    tag = (f"v{text}", f"{last_segment(name)}-{text}", text)[style]
    return RepositoryEntry(
        name=name,
        tag=tag,
        commit_sha=_sha(name, tag),
        package_version=text if package else None,
    )


def _names(rng: random.Random, count: int, groups: tuple[str, ...]) -> list[str]:
    names: dict[str, None] = {}
    while len(names) < count:
        project = rng.choice(PROJECTS)
        if rng.random() < 0.3:
            project = f"{project}-{rng.choice(PROJECTS).replace('.', '-')}"
        names[f"{rng.choice(groups)}/{project}"] = None
    return list(names)


def _release(
    rng: random.Random,
    version: str,
    entries: list[RepositoryEntry],
    day: int,
) -> Manifest:
    created_at = CREATED_AT + dt.timedelta(days=day)
    environments = {
        "production": EnvironmentEntry(
            f"prod-v{version}", created_at + dt.timedelta(days=5, hours=4, minutes=30)
        ),
        "staging": EnvironmentEntry(
            f"staging-v{version}", created_at + dt.timedelta(days=2, microseconds=250_000)
        ),
        "canary": EnvironmentEntry(
            f"canary-v{version}", created_at + dt.timedelta(days=4), "in_progress"
        ),
        "qa": EnvironmentEntry(f"qa-v{version}", None, "planned"),
    }
    return Manifest(
        version=version,
        created_at=created_at,
        created_by=rng.choice(("platform-team", "release-bot", "Zoë Müller")),
        environments=environments,
        repositories=tuple(entries),
        metadata={
            "notes": rng.choice(NOTES),
            "changelog_url": f"https://github.com/acme/product/releases/tag/v{version}",
            "ticket": f"REL-{rng.randint(100, 999)}",
            "approvers": ["Ana Sánchez", "李伟", "Jörg Ødegaard"],
            "freeze": {"from": "2025-01-10", "lifted": True, "exceptions": 2},
        },
    )


def _with_dependencies(rng: random.Random, entries: list[RepositoryEntry]) -> None:
    """Some entries depend on one to three entries before them: never a cycle."""
    for index in range(1, len(entries)):
        if rng.random() < 0.2:
            earlier = rng.sample(range(index), k=min(index, rng.randint(1, 3)))
            entries[index] = replace(
                entries[index], depends_on=tuple(entries[i].name for i in sorted(earlier))
            )


def generate_corpus(releases: int = 3, pins: int = 500, seed: int = 5) -> list[Manifest]:
    """``releases`` successive releases ("2.0", "2.1", ...) of ``pins`` ``org/name`` pins."""
    rng = random.Random(seed)
    pool = _names(rng, pins + pins // 10 * releases, OWNERS)
    current = pool[:pins]
    spare = pool[pins:]
    versions = {name: _version(rng) for name in pool}
    styles = {name: rng.randrange(3) for name in pool}
    packages = {name: rng.random() > 0.1 for name in pool}
    urls = {name: rng.random() < 0.1 for name in pool}
    manifests = []
    for number in range(releases):
        if number:
            # A few repositories leave, as many arrive; a tenth of the pins move on.
            for _ in range(max(1, pins // 50)):
                current.remove(rng.choice(current))
                current.append(spare.pop())
            for name in rng.sample(current, k=pins // 10):
                major, minor, patch = versions[name]
                versions[name] = (
                    (major, minor, patch + 1) if rng.random() < 0.7 else (major, minor + 1, 0)
                )
        entries = [_entry(n, versions[n], styles[n], packages[n]) for n in current]
        entries = [
            replace(entry, url=f"https://github.com/{entry.name}.git")
            if urls[entry.name]
            else entry
            for entry in entries
        ]
        _with_dependencies(rng, entries)
        manifests.append(_release(rng, f"2.{number}", entries, day=30 * number))
    return manifests


def nested_release(version: str = "3.0", pins: int = 120, seed: int = 7) -> Manifest:
    """A release of GitLab-style ``group/subgroup/name`` repositories."""
    rng = random.Random(seed)
    entries = [
        _entry(name, _version(rng), rng.randrange(3), rng.random() > 0.1)
        for name in _names(rng, pins, NESTED_GROUPS)
    ]
    entries = [
        replace(entry, url=f"https://gitlab.com/{entry.name}.git") if i % 7 == 0 else entry
        for i, entry in enumerate(entries)
    ]
    _with_dependencies(rng, entries)
    return _release(rng, version, entries, day=200)


def write_corpus(folder: Path, manifests: list[Manifest], format: str = "yaml") -> list[Path]:
    """Each manifest as canonical text in ``folder/v<version>.<format>``, as the IaC repo's
    ``manifests/`` folder holds them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for manifest in manifests:
        path = folder / f"v{manifest.version}.{format}"
        path.write_text(dump_manifest(manifest, format), encoding="utf-8")
        paths.append(path)
    return paths
