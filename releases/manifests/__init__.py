"""The manifest codec: read, check, write and compare release manifests.

Pure Python (PyYAML and packaging only, no Django), so that ``validate_manifest`` and any
script can use it without a database.

Modules: ``rules`` (the value rules and limits, which the catalogue imports too), ``yaml_tree``
and ``json_tree`` (text to a plain tree), ``schema`` (tree to :class:`Manifest` with located
errors), ``reader`` (orchestration), ``checks`` (offline findings), ``writer`` (canonical
text), ``diff``, ``model`` and ``files`` (discovery on disk).
"""

from .checks import OFFLINE_CODES, check_manifest
from .diff import ManifestDiff, diff_manifests
from .files import read_manifest as read_manifest_file
from .model import (
    DEPLOYMENT_STATUSES,
    EnvironmentEntry,
    Finding,
    Manifest,
    ManifestRejected,
    RepositoryEntry,
)
from .reader import parse_manifest, parse_metadata_json
from .rules import (
    DEFAULT_MAX_BYTES,
    ENVIRONMENT_RE,
    MAX_REPOSITORY_NAME,
    NAMESPACE_RE,
    VERSION_RE,
    git_tag_problem,
    git_url_problem,
    parse_timestamp,
    redact_url,
    repository_name_problem,
)
from .writer import dump_manifest, format_timestamp, manifest_to_tree

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEPLOYMENT_STATUSES",
    "ENVIRONMENT_RE",
    "MAX_REPOSITORY_NAME",
    "NAMESPACE_RE",
    "OFFLINE_CODES",
    "VERSION_RE",
    "EnvironmentEntry",
    "Finding",
    "Manifest",
    "ManifestDiff",
    "ManifestRejected",
    "RepositoryEntry",
    "check_manifest",
    "diff_manifests",
    "dump_manifest",
    "format_timestamp",
    "git_tag_problem",
    "git_url_problem",
    "manifest_to_tree",
    "parse_manifest",
    "parse_metadata_json",
    "parse_timestamp",
    "read_manifest_file",
    "redact_url",
    "repository_name_problem",
]
