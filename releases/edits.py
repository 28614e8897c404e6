"""Edit one part of a stored release (a deployment, a pin) through the import service.

The change is made to the release's manifest tree and the result imported with
:func:`releases.importing.import_manifest`: the same value rules, located errors, findings,
history, pin state and revision as a whole manifest, and no rule of its own here. Errors are
located relative to the edited part (``namespace``, ``tag``), as its caller received it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from . import changes
from .exporting import manifest_for
from .importing import ImportResult, import_manifest
from .manifests import Finding, Manifest, ManifestRejected, format_timestamp, manifest_to_tree
from .manifests.located import Collector, join
from .manifests.schema import tree_to_manifest
from .models import Release

#: What a pin edit may set; the rest of a pin is its repository (for life) and derived state.
PIN_FIELDS = ("tag", "commit_sha", "package_version", "url", "depends_on")


def record_deployment(
    release: Release,
    environment_name: str,
    *,
    namespace: Any,
    deployed_at: Any = None,
    status: Any = None,
    source: str,
    user: Any = None,
    actor: str | None = None,
) -> ImportResult:
    """Create or replace ``release``'s deployment to ``environment_name``.

    ``deployed_at`` is an RFC 3339 text or an aware datetime, ``status`` one of the deployment
    statuses (left out: implied by ``deployed_at``, as in a manifest). An unknown environment
    is created. Raises :class:`ManifestRejected` with errors located at ``namespace``,
    ``deployed_at``, ``status`` (or ``environment`` for a bad name); nothing is written then.
    """
    entry: dict[str, Any] = {"namespace": namespace}
    if deployed_at is not None:
        entry["deployed_at"] = (
            format_timestamp(deployed_at) if isinstance(deployed_at, dt.datetime) else deployed_at
        )
    if status is not None:
        entry["status"] = status
    here = join("environments", environment_name)

    def change(tree: dict[str, Any]) -> str:
        tree.setdefault("environments", {})[environment_name] = entry
        return here

    return _rewrite(release, change, source=source, user=user, actor=actor, whole="environment")


def edit_pin(
    release: Release,
    repository: str,
    fields: dict[str, Any],
    *,
    source: str,
    user: Any = None,
    actor: str | None = None,
) -> ImportResult:
    """Change some of :data:`PIN_FIELDS` of ``release``'s pin of ``repository``.

    Raises :class:`LookupError` when the release has no such pin, :class:`ManifestRejected`
    (errors located at the field, ``tag`` say) for a value the manifest rules refuse or a
    field that cannot be edited.
    """
    unknown = [key for key in fields if key not in PIN_FIELDS]
    if unknown:
        raise ManifestRejected(
            source,
            [
                Finding("unknown-key", "error", key, f"cannot be edited; one of {PIN_FIELDS}")
                for key in unknown
            ],
        )

    def change(tree: dict[str, Any]) -> str:
        for index, entry in enumerate(tree["repositories"]):
            if entry["name"] == repository:
                entry.update(fields)
                return join("repositories", index)
        raise LookupError(f"release {release.version} has no pin of {repository}")

    return _rewrite(release, change, source=source, user=user, actor=actor, whole="repository")


def _rewrite(
    release: Release,
    change: Callable[[dict[str, Any]], str],
    *,
    source: str,
    user: Any,
    actor: str | None,
    whole: str,
) -> ImportResult:
    with changes.batch(source, user=user, actor=actor):
        # Hold the release while its manifest is read, changed and written back.
        Release.objects.select_for_update().filter(pk=release.pk).values_list("pk").first()
        tree = manifest_to_tree(manifest_for(release.version))
        where = change(tree)
        manifest = _manifest(tree, source, where, whole)
        return import_manifest(manifest, source=source, user=user)


def _manifest(tree: dict[str, Any], source: str, where: str, whole: str) -> Manifest:
    out = Collector()
    manifest = tree_to_manifest(tree, out, set())
    if out.errors or manifest is None:
        raise ManifestRejected(
            source,
            [_relative(error, where, whole) for error in out.errors]
            or [Finding("invalid", "error", "", "not a valid release")],
        )
    return manifest


def _relative(error: Finding, where: str, whole: str) -> Finding:
    """``environments.production.namespace`` -> ``namespace``; the entry itself -> ``whole``."""
    if error.path == where:
        path = whole
    elif error.path.startswith(where + "."):
        path = error.path[len(where) + 1 :]
    elif error.path.startswith(where + "["):
        path = error.path[len(where) :]
    else:
        return error
    return Finding(error.code, error.severity, path, error.message)
