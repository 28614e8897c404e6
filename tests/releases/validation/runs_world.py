"""Served repositories and stored releases that the validation run tests share."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from releases.models import Release
from tests.gitserver import BareRepository, GitDaemon, RepositoryFolder
from tests.releases.manifests import import_text


@dataclass
class Pin:
    name: str
    tag: str
    commit_sha: str | None
    package_version: str | None = None
    url: str | None = None


@dataclass
class World:
    """Repositories served by ``git daemon`` under one prefix; the URL template points there."""

    daemon: GitDaemon
    prefix: str
    repositories: dict[str, BareRepository] = field(default_factory=dict)
    shas: dict[str, str] = field(default_factory=dict)

    @property
    def template(self) -> str:
        return f"git://127.0.0.1:{self.daemon.port}/{self.prefix}/{{name}}.git"

    def url(self, name: str) -> str:
        return self.template.replace("{name}", name)


def build_world(folder: RepositoryFolder, daemon: GitDaemon) -> World:
    """pytroll/fogpy (a lightweight and an annotated tag), fogpy_utils and chempipe-plugins."""
    world = World(daemon, uuid.uuid4().hex[:12])
    fogpy, _ = folder.create("pytroll/fogpy", prefix=world.prefix)
    first, second, third = fogpy.commits(3)
    fogpy.tag("v2.6.0", first)
    world.shas["fogpy v2.6.1 tag object"] = fogpy.tag("v2.6.1", second, message="Release 2.6.1")
    world.shas["fogpy v2.6.0"] = first
    world.shas["fogpy v2.6.1"] = second
    world.shas["fogpy other"] = third
    utils, _ = folder.create("fogpy_utils", prefix=world.prefix)
    (utils_commit,) = utils.commits(1)
    utils.tag("v1.4.2", utils_commit)
    world.shas["fogpy_utils v1.4.2"] = utils_commit
    chem, _ = folder.create("chempipe-plugins", prefix=world.prefix)
    (chem_commit,) = chem.commits(1)
    chem.tag("v3.1.0", chem_commit, message="Plugins 3.1.0 ✓")
    world.shas["chempipe-plugins v3.1.0"] = chem_commit
    world.repositories = {"pytroll/fogpy": fogpy, "fogpy_utils": utils, "chempipe-plugins": chem}
    return world


def manifest_text(
    version: str, pins: Sequence[Pin], *, environments: dict[str, str] | None = None
) -> str:
    """A manifest (JSON, which is YAML too) pinning ``pins``; ``environments`` maps an
    environment to its deployment status."""
    document: dict[str, Any] = {"version": version, "created_at": "2025-01-15T10:00:00Z"}
    if environments:
        document["environments"] = {
            name: {
                "deployed_at": "2025-01-20T14:30:00Z",
                "namespace": f"{name}-{version}",
                "status": status,
            }
            for name, status in environments.items()
        }
    document["repositories"] = [
        {
            "name": pin.name,
            "tag": pin.tag,
            "commit_sha": pin.commit_sha,
            "package_version": pin.package_version,
            **({"url": pin.url} if pin.url else {}),
        }
        for pin in pins
    ]
    return json.dumps(document, ensure_ascii=False, indent=2)


def store(version: str, pins: Sequence[Pin], **options: Any) -> Release:
    import_text(manifest_text(version, pins, **options), source=f"manifests/v{version}.json")
    return Release.objects.get(version=version)


@contextmanager
def eager_tasks() -> Iterator[None]:
    """Celery tasks run in-process, whatever REDIS_URL says (the worker test is separate)."""
    from config.celery_app import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = before
