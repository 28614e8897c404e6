"""Typed manifest objects and findings.

Plain dataclasses with no Django import: the reader produces them, the checks inspect them, the
writer serialises them and the import service maps them onto models.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning"]

DEPLOYMENT_STATUSES = ("planned", "in_progress", "deployed", "failed", "retired")


@dataclass(frozen=True)
class Finding:
    """One located observation about a manifest: a rejection reason or a stored finding."""

    code: str
    severity: Severity
    path: str
    message: str
    line: int | None = None

    def location(self, source: str | None = None) -> str:
        where = self.path or "(document)"
        if self.line is not None:
            where = f"{where} (line {self.line})"
        return f"{source}: {where}" if source else where

    def format(self, source: str | None = None) -> str:
        return f"{self.location(source)}: {self.severity}: {self.message} [{self.code}]"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "code": self.code,
            "severity": self.severity,
            "path": self.path,
            "message": self.message,
        }
        if self.line is not None:
            data["line"] = self.line
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            code=data["code"],
            severity=data["severity"],
            path=data["path"],
            message=data["message"],
            line=data.get("line"),
        )


class ManifestRejected(Exception):
    """The document cannot be imported; ``errors`` says where and why."""

    def __init__(self, source: str, errors: list[Finding]) -> None:
        self.source = source
        self.errors = errors
        super().__init__("\n".join(error.format(source) for error in errors))


@dataclass(frozen=True)
class EnvironmentEntry:
    """One deployment of the release. ``status_explicit`` is true when the file wrote the
    ``status`` key, even where it says what is implied (``deployed`` with a ``deployed_at``),
    so that the key is written back. A status that is not implied is always written, so it is
    always explicit: two entries are equal exactly when they are written the same."""

    namespace: str
    deployed_at: dt.datetime | None = None
    status: str = "deployed"
    status_explicit: bool = False

    def __post_init__(self) -> None:
        if not self.status_explicit and self.status != self.implied_status:
            object.__setattr__(self, "status_explicit", True)

    @property
    def implied_status(self) -> str:
        """The status a file means when it leaves the key out."""
        return "deployed" if self.deployed_at is not None else "planned"


@dataclass(frozen=True)
class RepositoryEntry:
    name: str
    tag: str
    commit_sha: str | None = None
    package_version: str | None = None
    url: str | None = None
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    """A release manifest, exactly as much as the file says and nothing invented.

    ``environments`` keeps the file's order (a dict); ``metadata`` is the free-form mapping
    verbatim, ``None`` when the file has none.
    """

    version: str
    repositories: tuple[RepositoryEntry, ...]
    created_at: dt.datetime | None = None
    created_by: str | None = None
    environments: dict[str, EnvironmentEntry] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None

    def repository(self, name: str) -> RepositoryEntry | None:
        for entry in self.repositories:
            if entry.name == name:
                return entry
        return None
