"""Write a :class:`Manifest` in canonical YAML or JSON.

Canonical means: keys in the contract's order, two-space indent, strings double-quoted, ``null``
kept for ``commit_sha`` and ``package_version``, optional keys left out when unset, timestamps in
UTC with ``Z``. The YAML layout follows the seed document (a blank line before the repository
list, between its entries and before ``metadata``), so an exported seed reads like the seed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from .model import Manifest

# Characters a YAML reader would fold or refuse inside double quotes; JSON's escaping already
# covers the C0 controls, the quote and the backslash.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*\Z")
_RESERVED_WORDS = {"yes", "no", "on", "off", "true", "false", "null", "y", "n"}


def format_timestamp(value: dt.datetime) -> str:
    """RFC 3339 in UTC with ``Z``; fractional seconds only when present, without trailing zeros."""
    utc = value.astimezone(dt.UTC)
    # Not strftime: "%Y" gives "999", not "0999", for years before 1000 on glibc.
    text = utc.replace(tzinfo=None, microsecond=0).isoformat()
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def manifest_to_tree(manifest: Manifest) -> dict[str, Any]:
    """The manifest as plain JSON-ready data in canonical key order."""
    tree: dict[str, Any] = {"version": manifest.version}
    if manifest.created_at is not None:
        tree["created_at"] = format_timestamp(manifest.created_at)
    if manifest.created_by is not None:
        tree["created_by"] = manifest.created_by
    if manifest.environments:
        environments: dict[str, Any] = {}
        for name, entry in manifest.environments.items():
            item: dict[str, Any] = {}
            if entry.deployed_at is not None:
                item["deployed_at"] = format_timestamp(entry.deployed_at)
            item["namespace"] = entry.namespace
            # Written when the file wrote it, and always when it is not the implied one.
            if entry.status_explicit:
                item["status"] = entry.status
            environments[name] = item
        tree["environments"] = environments
    repositories = []
    for repo in manifest.repositories:
        item = {
            "name": repo.name,
            "tag": repo.tag,
            "commit_sha": repo.commit_sha,
            "package_version": repo.package_version,
        }
        if repo.url is not None:
            item["url"] = repo.url
        if repo.depends_on:
            item["depends_on"] = list(repo.depends_on)
        repositories.append(item)
    tree["repositories"] = repositories
    if manifest.metadata is not None:
        tree["metadata"] = canonical_metadata(manifest.metadata)
    return tree


def canonical_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """The metadata mapping in canonical order: notes, changelog_url, then the rest as given."""
    ordered: dict[str, Any] = {
        key: metadata[key] for key in ("notes", "changelog_url") if key in metadata
    }
    ordered.update(metadata)
    return ordered


def dump_manifest(manifest: Manifest, format: str = "yaml") -> str:
    """Canonical text of the manifest, ``format`` being ``yaml`` or ``json``."""
    tree = manifest_to_tree(manifest)
    if format == "json":
        return json.dumps(tree, indent=2, ensure_ascii=False) + "\n"
    if format != "yaml":
        raise ValueError(f"unknown manifest format {format!r}")
    return _dump_yaml(tree)


def format_float(value: float) -> str:
    """A float as YAML 1.1 reads it back: ``1e+16`` has no dot, so YAML would read a string."""
    text = repr(value)
    if "." not in text and "e" in text:
        text = text.replace("e", ".0e", 1)
    return text


def _quote(text: str) -> str:
    quoted = json.dumps(text, ensure_ascii=False)
    return _YAML_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return _quote(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    if isinstance(value, float):
        return format_float(value)
    return repr(value)


def _key(key: str) -> str:
    if _PLAIN_KEY.match(key) and key.lower() not in _RESERVED_WORDS:
        return key
    return _quote(key)


def _mapping(data: dict[str, Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for key, value in data.items():
        name = _key(key)
        # YAML readers refuse an implicit key longer than 1024 characters: write it explicitly.
        if len(name.encode("utf-8")) > 1000:
            out.append(f"{pad}? {name}")
            head = f"{pad}:"
        else:
            head = f"{pad}{name}:"
        if isinstance(value, dict) and value:
            out.append(head)
            _mapping(value, indent + 2, out)
        elif isinstance(value, list) and value:
            out.append(head)
            _sequence(value, indent + 2, out)
        else:
            out.append(f"{head} {_scalar(value)}")


def _sequence(items: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in items:
        if (isinstance(item, dict | list)) and item:
            nested: list[str] = []
            if isinstance(item, dict):
                _mapping(item, indent + 2, nested)
            else:
                _sequence(item, indent + 2, nested)
            nested[0] = f"{pad}- {nested[0][indent + 2 :]}"
            out.extend(nested)
        else:
            out.append(f"{pad}- {_scalar(item)}")


def _dump_yaml(tree: dict[str, Any]) -> str:
    out: list[str] = []
    for key, value in tree.items():
        if key == "repositories":
            out.append("")
            out.append("repositories:")
            for index, repo in enumerate(value):
                if index:
                    out.append("")
                first = True
                for field, item in repo.items():
                    lead = "  - " if first else "    "
                    first = False
                    if field == "depends_on":
                        out.append(
                            f"{lead}depends_on: [{', '.join(_quote(name) for name in item)}]"
                        )
                    else:
                        out.append(f"{lead}{field}: {_scalar(item)}")
        else:
            if key == "metadata":
                out.append("")
            _mapping({key: value}, 0, out)
    return "\n".join(out) + "\n"
