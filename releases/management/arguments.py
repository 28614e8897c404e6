"""Command-line arguments the manifest commands share."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from releases.manifests.files import display_path, escape_text, manifest_files


def manifest_paths(paths: list[str]) -> list[Path]:
    """The manifest files named by PATH arguments (folders expanded); exit 2 when none.

    A path named on the command line must exist and be a file or a folder (a usage error
    otherwise); entries of a folder that cannot be read are kept, so that reading them
    reports them by name (see :func:`releases.manifests.files.manifest_files`).
    """
    missing = [path for path in paths if not Path(path).exists()]
    if missing:
        raise CommandError(f"no such file or folder: {_names(missing)}", returncode=2)
    odd = [path for path in paths if not (Path(path).is_dir() or Path(path).is_file())]
    if odd:
        raise CommandError(f"not a file or folder: {_names(odd)}", returncode=2)
    try:
        files = manifest_files(paths)
    except OSError as exc:
        where = display_path(exc.filename) if exc.filename else "a folder"
        reason = escape_text(exc.strerror or str(exc))
        raise CommandError(f"cannot read {where}: {reason}", returncode=2) from None
    if not files:
        raise CommandError("no manifest files (.yaml, .yml, .json) found", returncode=2)
    return files


def _names(paths: list[str]) -> str:
    return ", ".join(display_path(path) for path in paths)
