"""Where manifests are on disk: the files a list of paths names, and how to print a path.

Pure Python, no Django.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_files(paths: Iterable[Path | str]) -> list[Path]:
    """Files named on the command line, folders expanded to their manifest files.

    A folder contributes its regular ``.yaml``/``.yml``/``.json`` files, hidden ones (editor and
    ``._`` resource-fork droppings) left out. Raises ``OSError`` for an unreadable folder.
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                sorted(
                    (
                        child
                        for child in path.iterdir()
                        if child.suffix.lower() in MANIFEST_SUFFIXES
                        and not child.name.startswith(".")
                        and child.is_file()
                    ),
                    key=lambda child: _natural(child.name),
                )
            )
        else:
            files.append(path)
    # A file named twice (or by a path and by its folder) is read once.
    unique: dict[Path, Path] = {}
    for file in files:
        unique.setdefault(file.resolve(), file)
    return list(unique.values())


def display_path(path: Path) -> str:
    """The path as text that can be printed and stored, whatever bytes the file name holds;
    undecodable bytes are shown as ``\\xff``, so two such names stay apart."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _natural(name: str) -> tuple[tuple[int, int | str], ...]:
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part
    )
