"""Request bodies in YAML or JSON, handed to the manifest codec as they came.

DRF's JSON parser would read ``1.10`` as the float 1.1 and let a duplicate key win silently;
the codec refuses both with a located error, so the parsers only read the bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from rest_framework.parsers import BaseParser

from releases.manifests import Finding, Manifest, ManifestRejected, parse_manifest
from releases.manifests.json_tree import parse_json_tree
from releases.manifests.located import Abort, Collector
from releases.manifests.schema import tree_to_manifest
from releases.manifests.yaml_tree import parse_yaml_tree


@dataclass(frozen=True)
class RawBody:
    """The request body as bytes, and the format its media type names."""

    data: bytes
    format: str


class _RawParser(BaseParser):
    format_name = "json"

    def parse(  # type: ignore[override]
        self,
        stream: IO[Any] | None,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> RawBody:
        limit = settings.REGISTRY_MANIFEST_MAX_BYTES
        # One byte over the limit is enough for the codec to say "too large".
        data = stream.read(limit + 1) if stream is not None else b""
        return RawBody(data, self.format_name)


class ManifestJSONParser(_RawParser):
    media_type = "application/json"
    format_name = "json"


class ManifestYAMLParser(_RawParser):
    media_type = "application/yaml"
    format_name = "yaml"


class ManifestXYAMLParser(ManifestYAMLParser):
    media_type = "application/x-yaml"


class ManifestTextYAMLParser(ManifestYAMLParser):
    media_type = "text/yaml"


PARSERS = [ManifestJSONParser, ManifestYAMLParser, ManifestXYAMLParser, ManifestTextYAMLParser]


def raw_body(data: Any) -> RawBody:
    """What a view's ``request.data`` holds: the parsed :class:`RawBody`, or an empty JSON one
    when the request had no body."""
    return data if isinstance(data, RawBody) else RawBody(b"", "json")


def read_manifest(body: RawBody, source: str) -> Manifest:
    """A whole manifest from the body, by every rule of the codec (``parse_manifest``)."""
    manifest = parse_manifest(
        body.data,
        source=source,
        format=body.format,
        max_bytes=settings.REGISTRY_MANIFEST_MAX_BYTES,
    )
    return manifest


def read_tree(body: RawBody, source: str) -> tuple[Any, set[str]]:
    """The plain tree of the body and its YAML plain-scalar paths (for coercion hints);
    :class:`ManifestRejected` when it is not readable YAML or JSON."""
    limit = settings.REGISTRY_MANIFEST_MAX_BYTES
    if len(body.data) > limit:
        message = f"{len(body.data)} bytes is over the limit of {limit}"
        raise ManifestRejected(source, [Finding("too-large", "error", "", message)])
    try:
        text = body.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start})"
        raise ManifestRejected(source, [Finding("encoding", "error", "", message)]) from None
    out = Collector()
    plain_paths: set[str] = set()
    tree = None
    try:
        if body.format == "json":
            tree = parse_json_tree(text, out)
        else:
            tree = parse_yaml_tree(text, out, plain_paths, limit)
    except Abort as abort:
        out.errors.append(Finding(abort.code, "error", abort.path, abort.message))
    if out.errors:
        raise ManifestRejected(source, out.errors)
    return tree, plain_paths


def tree_manifest(tree: Any, plain_paths: set[str], source: str) -> Manifest:
    """The manifest a tree describes, or :class:`ManifestRejected` with located errors."""
    out = Collector()
    manifest = tree_to_manifest(tree, out, plain_paths)
    if out.errors or manifest is None:
        raise ManifestRejected(
            source, out.errors or [Finding("invalid", "error", "", "not a manifest")]
        )
    return manifest
