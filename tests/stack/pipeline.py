"""What a release pipeline does to the stack, and what the tests read back from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from .conftest import Repositories, Running
from .stack import Process, Web

NOT_SERVED = "nobody/not-served"


@dataclass
class Shape:
    """The running processes of the module's stack."""

    running: Running
    repositories: Repositories
    webs: list[Web] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    beat: Process | None = None

    def logs(self) -> str:
        return self.running.stack.logs()

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.running.database_url) as connection:
            return connection.execute(query, params).fetchall()


def manifest(
    repositories: Repositories,
    version: str,
    pins: dict[str, str],
    *,
    wrong: tuple[str, ...] = (),
    unreachable: bool = False,
    extra: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """The JSON tree of a manifest pinning ``pins`` (name -> tag) at the tags' commits (the
    names in ``wrong`` at another commit), a repository no host serves when ``unreachable``,
    and the ``extra`` entries."""
    entries = []
    for name, tag in pins.items():
        sha = repositories.shas[(name, tag)]
        if name in wrong:
            sha = next(s for (n, t), s in repositories.shas.items() if n == name and t != tag)
        entries.append(
            {
                "name": name,
                "tag": tag,
                "commit_sha": sha,
                "package_version": tag.lstrip("v"),
                "url": repositories.urls[name],
            }
        )
    if unreachable:
        entries.append(
            {
                "name": NOT_SERVED,
                "tag": "v1.0.0",
                "commit_sha": "b" * 40,
                "url": f"git://127.0.0.1:{repositories.daemon.port}/nothing/here.git",
            }
        )
    entries.extend(extra)
    return {
        "version": version,
        "created_at": "2025-01-15T10:00:00Z",
        "created_by": "release-pipeline",
        "repositories": entries,
        "metadata": {"notes": f"Release {version} — Zoë's pipeline ✓"},
    }


def deploy(web: Web, version: str, environment: str, status: str) -> None:
    answer = web.api(
        "PUT",
        f"releases/{version}/deployments/{environment}/",
        json={
            "namespace": f"{environment[:4]}-v{version}",
            "deployed_at": "2025-01-20T14:30:00Z",
            "status": status,
        },
    )
    assert answer.status_code in (200, 201), answer.text


def pin_states(web: Web, version: str) -> dict[str, str]:
    answer = web.api("GET", f"releases/{version}/")
    assert answer.status_code == 200, answer.text
    return {pin["name"]: pin["state"] for pin in answer.json()["repositories"]}


def backlog_empty(web: Web) -> bool:
    status, health = web.health()
    backlog = health.get("notion_backlog")
    return status == 200 and isinstance(backlog, dict) and not any(backlog.values())


def hanging_pin(port: int, name: str = "acme/hangs") -> dict[str, Any]:
    """An entry on a git host that accepts connections and never answers."""
    return {
        "name": name,
        "tag": "v1.0.0",
        "commit_sha": "c" * 40,
        "url": f"http://127.0.0.1:{port}/{name}.git",
    }
