"""Responses in canonical manifest form (JSON or YAML), and YAML for everything else."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml
from rest_framework.renderers import BaseRenderer, JSONRenderer

from releases.manifests import Manifest, dump_manifest


class RawJSON(str):
    """JSON text already rendered (kept in the cache), placed in a response as it is."""


class PageJSONRenderer(JSONRenderer):
    """DRF's JSON renderer; a top-level mapping's :class:`RawJSON` values (a page's results
    kept rendered in the cache) are written as they are, not decoded and encoded again.

    Only in DRF's compact form (what API clients get); with an indent (the browsable API) the
    raw values are decoded and everything is rendered by DRF as usual."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if not isinstance(data, dict) or not any(isinstance(v, RawJSON) for v in data.values()):
            return super().render(data, accepted_media_type, renderer_context)
        if self.get_indent(accepted_media_type or "", renderer_context or {}) or not self.compact:
            plain = {k: json.loads(v) if isinstance(v, RawJSON) else v for k, v in data.items()}
            return super().render(plain, accepted_media_type, renderer_context)
        parts = []
        for key, value in data.items():
            if isinstance(value, RawJSON):
                text = value.encode("utf-8")
            elif value is None:
                text = b"null"  # DRF renders a bare None as an empty body
            else:
                text = super().render(value, accepted_media_type, renderer_context)
            parts.append(json.dumps(key, ensure_ascii=self.ensure_ascii).encode() + b":" + text)
        return b"{" + b",".join(parts) + b"}"


def raw_json(value: Any) -> RawJSON:
    """``value`` in DRF's compact JSON form (as :class:`PageJSONRenderer` writes the rest)."""
    return RawJSON(PageJSONRenderer().render(value).decode("utf-8"))


class ManifestText(str):
    """A manifest already rendered in the canonical form the request asked for."""


class ManifestJSONRenderer(JSONRenderer):
    """A :class:`Manifest` as canonical JSON (the bytes ``export_manifest`` writes)."""

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if isinstance(data, ManifestText):
            return data.encode("utf-8")
        if isinstance(data, Manifest):
            return dump_manifest(data, "json").encode("utf-8")
        return super().render(data, accepted_media_type, renderer_context)


class ManifestYAMLRenderer(BaseRenderer):
    """A :class:`Manifest` as canonical YAML; any other body (an error) as plain YAML."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if data is None:
            return b""
        if isinstance(data, ManifestText):
            return data.encode("utf-8")
        if isinstance(data, Manifest):
            return dump_manifest(data, "yaml").encode("utf-8")
        # Through JSON first: error bodies hold DRF's ErrorDetail (a str subclass YAML refuses).
        plain = json.loads(JSONRenderer().render(data))
        text = yaml.safe_dump(plain, sort_keys=False, allow_unicode=True, default_flow_style=False)
        return text.encode("utf-8")
