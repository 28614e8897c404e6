"""Build manifests from stored releases and write them out in canonical form.

Two ways to the same :class:`Manifest`: :func:`release_to_manifest` from model instances
loaded with ``Release.objects.with_manifest_data()`` (what the importer compares with), and
:func:`load_manifests` from plain rows, five times faster for a large release, for every export
(``export_release``, ``export_to_directory``, ``manifest_for``). Both end in
:func:`build_manifest`, and a test holds them to the same result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from . import revision_cache
from .manifests import EnvironmentEntry, Manifest, RepositoryEntry, dump_manifest
from .manifests.files import WrittenFile, write_files
from .models import EnvironmentDeployment, PinDependency, Release, RepositoryPin
from .querysets import ReleaseQuerySet


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


class PinValues(Protocol):
    """What a manifest takes from a pin: a ``RepositoryPin``, a historical one or a row."""

    @property
    def tag(self) -> str: ...
    @property
    def commit_sha(self) -> str | None: ...
    @property
    def package_version(self) -> str | None: ...
    @property
    def url(self) -> str: ...


def build_manifest(
    release: Release,
    pins: Sequence[tuple[PinValues, str, Sequence[str]]],
    deployments: Sequence[tuple[EnvironmentDeployment, str]],
) -> Manifest:
    """A manifest from rows: ``(pin, repository name, names it depends on)`` in manifest order
    and ``(deployment, environment name)``; stored rows, historical ones and plain pin rows
    alike."""
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
                status_explicit=deployment.status_explicit,
            )
            for deployment, name in deployments
        },
        metadata=release.metadata,
    )


def load_releases(versions: Iterable[str] | None = None) -> list[Release]:
    """Releases with everything :func:`release_to_manifest` needs; ``None`` means all, oldest
    version first."""
    return _in_order(Release.objects.with_manifest_data(), versions)


class _PinRow(NamedTuple):
    """A pin as :func:`load_manifests` reads it: one tuple of a ``values_list()`` query."""

    release_id: int
    pk: int
    name: str
    tag: str
    commit_sha: str | None
    package_version: str | None
    url: str


_PIN_COLUMNS = (
    "release_id",
    "pk",
    "repository__name",
    "tag",
    "commit_sha",
    "package_version",
    "url",
)


def load_manifests(versions: Iterable[str] | None = None) -> list[Manifest]:
    """The manifests of stored releases; ``None`` means all, oldest version first.

    Four queries whatever the number of releases and pins. Pins and their dependency links
    are read as plain rows (``values_list()``) rather than model instances: building a
    thousand ``RepositoryPin`` objects through prefetches costs five times the query itself.
    Raises :class:`UnknownRelease` naming every version that is not stored.
    """
    releases = _in_order(Release.objects.all(), versions)
    if not releases:
        return []
    pins = RepositoryPin.objects.order_by("release_id", "position", "pk")
    links = PinDependency.objects.order_by("pin_id", "position", "pk")
    deployments = EnvironmentDeployment.objects.select_related("environment").order_by(
        "release_id", "position", "pk"
    )
    if versions is not None:
        ids = [release.pk for release in releases]
        pins = pins.filter(release_id__in=ids)
        links = links.filter(pin__release_id__in=ids)
        deployments = deployments.filter(release_id__in=ids)
    pins_of: dict[int, list[_PinRow]] = {release.pk: [] for release in releases}
    for row in pins.values_list(*_PIN_COLUMNS):
        pins_of[row[0]].append(_PinRow._make(row))
    depends_on: dict[int, list[str]] = {}
    for pin_id, name in links.values_list("pin_id", "depends_on__repository__name"):
        depends_on.setdefault(pin_id, []).append(name)
    deployments_of: dict[int, list[tuple[EnvironmentDeployment, str]]] = {
        release.pk: [] for release in releases
    }
    for deployment in deployments:
        deployments_of[deployment.release_id].append((deployment, deployment.environment.name))
    return [
        build_manifest(
            release,
            [(pin, pin.name, depends_on.get(pin.pk, ())) for pin in pins_of[release.pk]],
            deployments_of[release.pk],
        )
        for release in releases
    ]


def manifest_for(version: str) -> Manifest:
    """The manifest of one stored release; raises :class:`UnknownRelease`."""
    (manifest,) = load_manifests([version])
    return manifest


def export_release(version: str, format: str = "yaml") -> str:
    """Canonical manifest text of one stored release; raises :class:`UnknownRelease`."""
    return dump_manifest(manifest_for(version), format)


# How long a rendered manifest stays in the cache; a change never waits for it (the key
# holds the revision every change bumps).
EXPORT_CACHE_SECONDS = 60 * 60


def export_of_revision(version: str, format: str = "yaml") -> tuple[str, int]:
    """Canonical text of a stored release and the revision it shows (the API's ETag).

    Kept in the cache (this worker's memory, then Redis in production:
    :mod:`releases.revision_cache`) under the release's identity and revision: every
    change bumps the revision through the change hook, so a cached text is never stale, and
    a busy pipeline endpoint costs one query instead of an export. Raises
    :class:`UnknownRelease`.
    """

    def identity() -> tuple[int, Any, int] | None:
        return (
            Release.objects.filter(version=version)
            .values_list("pk", "recorded_at", "revision")
            .first()
        )

    text, revision = "", 0
    for _ in range(3):
        found = identity()
        if found is None:
            raise UnknownRelease([version])
        pk, recorded_at, revision = found
        key = f"release-export:{pk}:{recorded_at.timestamp()}:{revision}:{format}"
        cached: str | None = revision_cache.get(key)
        if cached is not None:
            return cached, revision
        text = export_release(version, format)
        # Read between two looks at the revision that agree: the text is of that revision.
        if identity() == found:
            revision_cache.set_many({key: text}, EXPORT_CACHE_SECONDS)
            return text, revision
    return text, revision  # changing under our feet: the latest text, its revision unsure


def manifest_filename(version: str, format: str = "yaml") -> str:
    """``v1.4.yaml``: the layout of the IaC repository's ``manifests/`` folder."""
    return f"v{version}.{format}"


def export_to_directory(
    directory: Path, versions: Iterable[str] | None = None, format: str = "yaml"
) -> list[WrittenFile]:
    """Write ``DIR/v<version>.<format>`` for each release (all when ``versions`` is None).

    Unknown versions raise :class:`UnknownRelease` before anything is written. The files are
    written as :func:`releases.manifests.files.write_files` does: nothing outside
    ``directory`` (a symbolic link at a file's name is replaced, never followed), each file
    renamed into place whole, and a failure
    (:class:`~releases.manifests.files.FolderWriteFailed`) names what it wrote, if anything.
    """
    manifests = load_manifests(versions)
    return write_files(
        directory,
        {
            manifest_filename(manifest.version, format): dump_manifest(manifest, format)
            for manifest in manifests
        },
    )


def _in_order(queryset: ReleaseQuerySet, versions: Iterable[str] | None) -> list[Release]:
    """The releases named by ``versions``, in that order (each once), or all in version order;
    raises :class:`UnknownRelease` naming the missing ones."""
    if versions is None:
        return sorted(queryset, key=lambda release: _version_key(release.version))
    wanted = list(dict.fromkeys(versions))
    found = {release.version: release for release in queryset.filter(version__in=wanted)}
    missing = [version for version in wanted if version not in found]
    if missing:
        raise UnknownRelease(missing)
    return [found[version] for version in wanted]


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Natural order: 1.2 < 1.10; numbers before words within a part."""
    parts = version.replace("-", ".").replace("+", ".").replace("_", ".").split(".")
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts)
