"""Responses in canonical manifest form (JSON or YAML), and YAML for everything else."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml
from rest_framework.renderers import BaseRenderer, JSONRenderer

from releases.manifests import Manifest, dump_manifest


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
