"""Read manifest text (YAML or JSON) into a :class:`Manifest`, or reject it with located errors.

Orchestration only: the size and encoding checks, the format, then the tree
(:mod:`.yaml_tree` or :mod:`.json_tree`), the schema walk (:mod:`.schema`) and the check that
the canonical form stays within the size limit. The rules themselves live in :mod:`.rules`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .json_tree import parse_json_tree
from .located import Abort, Collector, describe
from .model import Finding, Manifest, ManifestRejected
from .rules import DEFAULT_MAX_BYTES
from .schema import tree_to_manifest
from .writer import dump_manifest
from .yaml_tree import parse_yaml_tree


def detect_format(text: str, source: str) -> str:
    """``json`` or ``yaml``: by the file name's suffix, else by the first character."""
    suffix = Path(source).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return "json" if text.lstrip().startswith("{") else "yaml"


def _decode(data: str | bytes, source: str) -> str:
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ManifestRejected(
                source, [Finding("encoding", "error", "", f"not UTF-8 text (byte {exc.start})")]
            ) from None
    try:
        data.encode("utf-8")
    except UnicodeEncodeError as exc:
        message = (
            f"contains an invalid Unicode code point (a lone surrogate) at character {exc.start}"
        )
        raise ManifestRejected(source, [Finding("encoding", "error", "", message)]) from None
    return data


def _too_large(source: str, size: int, max_bytes: int) -> ManifestRejected:
    message = f"{size} bytes is over the limit of {max_bytes}"
    return ManifestRejected(source, [Finding("too-large", "error", "", message)])


def parse_manifest(
    data: str | bytes,
    *,
    source: str = "<manifest>",
    format: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Manifest:
    """Parse manifest text; raise :class:`ManifestRejected` listing every located error."""
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > max_bytes:
        raise _too_large(source, size, max_bytes)
    text = _decode(data, source)
    out = Collector()
    plain_paths: set[str] = set()
    kind = format or detect_format(text, source)
    if kind not in ("yaml", "json"):
        raise ValueError(f"unknown manifest format {kind!r}")
    manifest = None
    try:
        tree = (
            parse_json_tree(text, out)
            if kind == "json"
            else parse_yaml_tree(text, out, plain_paths, max_bytes)
        )
    except Abort as abort:
        out.errors.append(Finding(abort.code, "error", abort.path, abort.message))
    else:
        # A document that is only "null" reaches the schema too, which says what it is;
        # an empty or unreadable one has been reported already.
        if tree is not None or not out.errors:
            manifest = tree_to_manifest(tree, out, plain_paths)
    if out.not_shown:
        message = f"{out.not_shown} more error(s) not shown"
        out.errors.append(Finding("too-many-errors", "error", "", message))
    if out.errors or manifest is None:
        raise ManifestRejected(
            source, out.errors or [Finding("invalid", "error", "", "not a manifest")]
        )
    # Written out canonically (indented, quoted), a compact document grows: a 2-byte "0," at
    # depth d becomes a line of 2d + 4 bytes, an escaped character takes 6 bytes for 2. Only a
    # document that could outgrow the limit, or repeats itself through aliases, is written out
    # to measure.
    growth = 2 * out.max_depth + 6
    if out.aliased or size * growth > max_bytes:
        _check_canonical_size(manifest, kind, source, max_bytes)
    return manifest


def _check_canonical_size(manifest: Manifest, kind: str, source: str, max_bytes: int) -> None:
    """Refuse what could be imported once but not again: its export (in the format it came
    in) over the size limit."""
    size = len(dump_manifest(manifest, kind).encode("utf-8"))
    if size > max_bytes:
        message = (
            f"written out as canonical {kind.upper()} this manifest is {size} bytes, over "
            f"the limit of {max_bytes}, so it could not be imported again"
        )
        raise ManifestRejected(source, [Finding("too-large", "error", "", message)])


def parse_metadata_json(text: str) -> dict[str, Any]:
    """A metadata mapping given as JSON text (the admin's "other metadata"), under the
    manifest's rules: exact numbers, no duplicate keys, no NUL; else :class:`ManifestRejected`."""
    out = Collector()
    try:
        tree = parse_json_tree(text, out)
    except Abort as abort:
        out.errors.append(Finding(abort.code, "error", abort.path, abort.message))
        tree = None
    if not out.errors and not isinstance(tree, dict):
        out.error("", f"must be a JSON object (a mapping), not {describe(tree)}", "type")
    if out.errors:
        raise ManifestRejected("metadata", out.errors)
    return tree  # type: ignore[no-any-return]
