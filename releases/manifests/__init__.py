"""The manifest codec: read, check, write and compare release manifests.

Pure Python (PyYAML and packaging only, no Django), so that ``validate_manifest`` and any
script can use it without a database.
"""

from .checks import OFFLINE_CODES, check_manifest
from .diff import ManifestDiff, diff_manifests
from .model import (
    DEPLOYMENT_STATUSES,
    EnvironmentEntry,
    Finding,
    Manifest,
    ManifestRejected,
    RepositoryEntry,
)
from .reader import DEFAULT_MAX_BYTES, parse_manifest, parse_timestamp, read_manifest_file
from .writer import dump_manifest, format_timestamp, manifest_to_tree

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEPLOYMENT_STATUSES",
    "OFFLINE_CODES",
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
    "manifest_to_tree",
    "parse_manifest",
    "parse_timestamp",
    "read_manifest_file",
]
