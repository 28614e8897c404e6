"""The validity report of manifest files or uploaded texts: what ``validate_manifest`` prints
and what the API will answer, without a database.

Pure Python, no Django: each document is read (or rejected with located errors), checked
offline, and held against the others for a version that two of them describe, exactly as an
import of the same documents would refuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import DEFAULT_MAX_BYTES, Finding, Manifest, ManifestRejected, check_manifest, parse_manifest
from .files import escape_text, read_manifests


@dataclass(frozen=True)
class DocumentReport:
    """One document's result: rejected (``findings`` are the reasons) or read, with the
    offline checks' findings."""

    source: str
    version: str | None
    rejected: bool
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> int:
        return sum(1 for finding in self.findings if finding.severity == "error")

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors

    @property
    def valid(self) -> bool:
        """Importable with ``--strict``: read, and no error findings."""
        return not self.rejected and not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.source,
            "version": self.version,
            "rejected": self.rejected,
            "valid": self.valid,
            "findings": [finding.as_dict() for finding in self.findings],
        }


@dataclass(frozen=True)
class ValidityReport:
    """The results of several documents checked together, in their order."""

    documents: tuple[DocumentReport, ...]

    @property
    def failed(self) -> int:
        """How many documents are rejected or have error findings."""
        return sum(1 for document in self.documents if not document.valid)

    @property
    def valid(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: ``{"valid", "checked", "failed", "documents": [...]}``, each document
        ``{"file", "version", "rejected", "valid", "findings": [{"code", "severity", "path",
        "message"[, "line"]}]}``."""
        return {
            "valid": self.valid,
            "checked": len(self.documents),
            "failed": self.failed,
            "documents": [document.as_dict() for document in self.documents],
        }


def duplicate_versions(manifests: Sequence[tuple[str, Manifest]]) -> dict[int, ManifestRejected]:
    """A rejection for every source whose version an earlier source already describes, by its
    position in ``manifests``."""
    seen: dict[str, str] = {}
    rejected = {}
    for index, (source, manifest) in enumerate(manifests):
        if manifest.version in seen:
            message = f"version {manifest.version!r} is also in {seen[manifest.version]}"
            rejected[index] = ManifestRejected(
                source, [Finding("duplicate", "error", "version", message)]
            )
        else:
            seen[manifest.version] = source
    return rejected


def report_outcomes(outcomes: Sequence[tuple[str, Manifest | ManifestRejected]]) -> ValidityReport:
    """The report of documents already read: ``(source, manifest or rejection)`` in order."""
    results: list[Manifest | ManifestRejected] = [outcome for _, outcome in outcomes]
    accepted = [
        (index, source, outcome)
        for index, (source, outcome) in enumerate(outcomes)
        if isinstance(outcome, Manifest)
    ]
    # What one import of all these documents would refuse is refused here too.
    duplicates = duplicate_versions([(source, manifest) for _, source, manifest in accepted])
    for position, rejection in duplicates.items():
        results[accepted[position][0]] = rejection
    documents = []
    for (source, _), result in zip(outcomes, results, strict=True):
        if isinstance(result, ManifestRejected):
            documents.append(DocumentReport(source, None, True, tuple(result.errors)))
        else:
            findings = tuple(check_manifest(result))
            documents.append(DocumentReport(source, result.version, False, findings))
    return ValidityReport(tuple(documents))


def validate_files(
    files: Iterable[Path],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Callable[[str], None] | None = None,
) -> ValidityReport:
    """Read and check manifest files (see :func:`files.read_manifests`)."""
    return report_outcomes(read_manifests(files, max_bytes=max_bytes, progress=progress))


def validate_texts(
    documents: Iterable[tuple[str, str | bytes]],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    format: str | None = None,
) -> ValidityReport:
    """Check uploaded documents, ``(name, text)`` each; the format comes from the name's
    suffix or the text unless ``format`` (``yaml`` or ``json``) says."""
    outcomes: list[tuple[str, Manifest | ManifestRejected]] = []
    for name, text in documents:
        source = escape_text(name)
        try:
            outcomes.append(
                (source, parse_manifest(text, source=source, format=format, max_bytes=max_bytes))
            )
        except ManifestRejected as exc:
            outcomes.append((source, exc))
    return report_outcomes(outcomes)
