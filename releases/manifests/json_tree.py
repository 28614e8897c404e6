"""JSON text to the same plain tree as the YAML side, or located errors.

Numbers are kept only when a Python value holds them exactly as written (``1.10`` and ``-0``
would come back otherwise), and duplicate keys are refused instead of the last one winning.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .located import Abort, Collector, check_text, join
from .model import Finding
from .rules import MAX_DEPTH, MAX_NUMBER_DIGITS


class _Lossy:
    """A JSON number whose text a float cannot hold exactly (``1.10``, ``1e3``, ``NaN``)."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Pairs(list[tuple[str, Any]]):
    """A JSON object before duplicate keys are checked."""


def _json_float(text: str) -> float | _Lossy:
    if len(text) > MAX_NUMBER_DIGITS:
        return _Lossy(text)
    value = float(text)
    return value if math.isfinite(value) and repr(value) == text else _Lossy(text)


def _json_int(text: str) -> int | _Lossy:
    # "-0" would come back as 0.
    if len(text) > MAX_NUMBER_DIGITS or text == "-0":
        return _Lossy(text)
    return int(text)


def parse_json_tree(text: str, out: Collector) -> Any:
    """The document's plain tree, ``None`` when it cannot be read (the errors are in ``out``).

    May raise :class:`Abort` for a document nested deeper than ``MAX_DEPTH``.
    """
    try:
        raw = json.loads(
            text,
            object_pairs_hook=_Pairs,
            parse_float=_json_float,
            parse_int=_json_int,
            parse_constant=_Lossy,
        )
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} (column {exc.colno})"
        out.errors.append(Finding("syntax", "error", "", message, exc.lineno))
        return None
    except RecursionError:
        out.errors.append(Finding("too-deep", "error", "", "nested too deeply"))
        return None
    return _plain(raw, "", out, 0)


def _plain(value: Any, path: str, out: Collector, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise Abort(path, f"nested deeper than {MAX_DEPTH} levels", "too-deep")
    if depth > out.max_depth:
        out.max_depth = depth
    if isinstance(value, _Pairs):
        result: dict[str, Any] = {}
        for key, item in value:
            child = join(path, key)
            check_text(key, child, out)
            if key in result:
                out.error(child, f"duplicate key {key!r}", "duplicate-key")
                continue
            result[key] = _plain(item, child, out, depth + 1)
        return result
    if isinstance(value, list):
        return [_plain(item, join(path, i), out, depth + 1) for i, item in enumerate(value)]
    if isinstance(value, str):
        check_text(value, path, out)
        return value
    if isinstance(value, _Lossy):
        if len(value.text) > MAX_NUMBER_DIGITS:
            out.error(
                path,
                f"a number of {len(value.text)} characters is too long "
                f"(at most {MAX_NUMBER_DIGITS}); quote it",
                "too-long",
            )
            return None
        out.error(
            path,
            f'the number {value.text} cannot be kept exactly as written; quote it ("{value.text}")',
            "coercion",
        )
        return None
    return value
