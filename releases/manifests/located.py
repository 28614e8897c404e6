"""Located errors: the paths that name a place in a manifest and the collector that gathers
errors while the trees and the schema are read."""

from __future__ import annotations

import json
import re
from typing import Any

from .model import Finding
from .rules import MAX_ERRORS

# A key is written bare in a path when it cannot be mistaken for more than one key or an index:
# ``metadata.ticket``. Any other key is quoted, ``metadata["a.b"]``, so that a dotted key never
# names the same place as a nested one (``a: {b: ...}``) and a control character cannot reach
# a terminal raw.
_BARE_KEY = re.compile(r"[^\s.\[\]\"'\\\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def join(path: str, key: str | int) -> str:
    """The path of ``key`` inside the node at ``path``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _BARE_KEY.fullmatch(key):
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def describe(value: Any) -> str:
    """What a value is, as a message names it ("a string", "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


class Collector:
    """Gathers the located errors of one document, one per place, at most ``MAX_ERRORS``."""

    def __init__(self) -> None:
        self.errors: list[Finding] = []
        self.refused: set[str] = set()
        self.not_shown = 0
        self.lines: dict[str, int] = {}
        # For the canonical-size check: how deep the document goes, whether aliases repeat.
        self.max_depth = 0
        self.aliased = False

    def error(
        self, path: str, message: str, code: str = "invalid", line: int | None = None
    ) -> None:
        # One error per place: a value already refused while reading is not refused again
        # by the schema ("1.10 would be read as 1.1" needs no "must be a string" after it).
        if path in self.refused:
            return
        self.refused.add(path)
        self.add(Finding(code, "error", path, message, line or self.lines.get(path)))

    def add(self, finding: Finding) -> None:
        if len(self.errors) >= MAX_ERRORS:
            self.not_shown += 1
        else:
            self.errors.append(finding)


class Abort(Exception):
    """Reading cannot go on (a bomb, a recursive alias, nesting too deep)."""

    def __init__(self, path: str, message: str, code: str) -> None:
        super().__init__(message)
        self.path, self.message, self.code = path, message, code


def check_text(value: str, path: str, out: Collector) -> None:
    """Refuse text that cannot be stored: lone surrogates and NUL."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        out.error(path, "contains an invalid Unicode code point (a lone surrogate)", "encoding")
    # PostgreSQL text cannot hold U+0000: refused here rather than failing the import.
    if "\x00" in value:
        out.error(path, "contains a NUL character (U+0000), which cannot be stored", "encoding")
