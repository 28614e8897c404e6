"""Build manifests from stored releases and write them out in canonical form."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from pathlib import Path

from .manifests import EnvironmentEntry, Manifest, RepositoryEntry, dump_manifest
from .models import EnvironmentDeployment, Release, RepositoryPin

# Until the codec's EnvironmentEntry has status_explicit (issue 5), it is passed only if it does.
_EXPLICIT = "status_explicit" in {entry_field.name for entry_field in fields(EnvironmentEntry)}


class UnknownRelease(LookupError):
    def __init__(self, versions: list[str]) -> None:
        self.versions = versions
        super().__init__("unknown release version(s): " + ", ".join(versions))


def release_to_manifest(release: Release) -> Manifest:
    """The manifest a release stands for; expects ``Release.objects.with_manifest_data()``."""
    return build_manifest(
        release,
        [
            (
                pin,
                pin.repository.name,
                [link.depends_on.repository.name for link in pin.manifest_links],  # type: ignore[attr-defined]
            )
            for pin in release.pins.all()
        ],
        [(deployment, deployment.environment.name) for deployment in release.deployments.all()],
    )


def build_manifest(
    release: Release,
    pins: Sequence[tuple[RepositoryPin, str, Sequence[str]]],
    deployments: Sequence[tuple[EnvironmentDeployment, str]],
) -> Manifest:
    """A manifest from rows: ``(pin, repository name, names it depends on)`` in manifest order
    and ``(deployment, environment name)``; stored rows and historical ones alike."""
    return Manifest(
        version=release.version,
        repositories=tuple(
            RepositoryEntry(
                name=name,
                tag=pin.tag,
                commit_sha=pin.commit_sha,
                package_version=pin.package_version,
                url=pin.url or None,
                depends_on=tuple(depends_on),
            )
            for pin, name, depends_on in pins
        ),
        created_at=release.created_at,
        created_by=release.created_by,
        environments={
            name: EnvironmentEntry(
                namespace=deployment.namespace,
                deployed_at=deployment.deployed_at,
                status=deployment.status,
                **({"status_explicit": deployment.status_explicit} if _EXPLICIT else {}),
            )
            for deployment, name in deployments
        },
        metadata=release.metadata,
    )


def load_releases(versions: Iterable[str] | None = None) -> list[Release]:
    """Releases with everything an export needs; ``None`` means all, oldest version first."""
    queryset = Release.objects.with_manifest_data()
    if versions is None:
        return sorted(queryset, key=lambda release: _version_key(release.version))
    wanted = list(dict.fromkeys(versions))
    found = {release.version: release for release in queryset.filter(version__in=wanted)}
    missing = [version for version in wanted if version not in found]
    if missing:
        raise UnknownRelease(missing)
    return [found[version] for version in wanted]


def export_release(version: str, format: str = "yaml") -> str:
    """Canonical manifest text of one stored release."""
    (release,) = load_releases([version])
    return dump_manifest(release_to_manifest(release), format)


def manifest_filename(version: str, format: str = "yaml") -> str:
    """``v1.4.yaml``: the layout of the IaC repository's ``manifests/`` folder."""
    return f"v{version}.{format}"


def export_to_directory(
    directory: Path, versions: Iterable[str] | None = None, format: str = "yaml"
) -> list[Path]:
    """Write ``DIR/v<version>.<format>`` for each release; returns the files written."""
    releases = load_releases(versions)  # unknown versions fail before anything is written
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for release in releases:
        path = directory / manifest_filename(release.version, format)
        path.write_text(dump_manifest(release_to_manifest(release), format), encoding="utf-8")
        written.append(path)
    return written


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order: 1.2 < 1.10; numbers before words within a part."""
    parts = version.replace("-", ".").replace("+", ".").replace("_", ".").split(".")
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts)
