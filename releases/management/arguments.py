"""Command-line arguments the manifest commands share."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from releases.manifests.files import manifest_files


def manifest_paths(paths: list[str]) -> list[Path]:
    """The manifest files named by PATH arguments (folders expanded); exit 2 when none."""
    missing = [path for path in paths if not Path(path).exists()]
    if missing:
        raise CommandError(f"no such file or folder: {', '.join(missing)}", returncode=2)
    odd = [path for path in paths if not (Path(path).is_dir() or Path(path).is_file())]
    if odd:
        raise CommandError(f"not a file or folder: {', '.join(odd)}", returncode=2)
    try:
        files = manifest_files(paths)
    except OSError as exc:
        raise CommandError(f"cannot read {exc.filename}: {exc.strerror}", returncode=2) from None
    if not files:
        raise CommandError("no manifest files (.yaml, .yml, .json) found", returncode=2)
    return files
