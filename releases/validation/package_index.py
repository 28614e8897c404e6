"""Is a package version on the index, and is it yanked? A PyPI-compatible JSON API client.

``GET {root}/{project}/{version}/json`` answers for one release (``info.yanked``,
``urls[].yanked``); when that is a 404, ``GET {root}/{project}/json`` tells a missing project
from a missing version and finds a release spelt differently (``2.6`` for ``2.6.0``, PEP 440
equal). Answers are cached per index object, so a run asks once per project and version.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

PackageState = Literal["present", "yanked", "missing", "no-project"]
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class PackageAnswer:
    """What the index says about ``project`` at ``version``."""

    project: str
    version: str
    state: PackageState
    yanked_reason: str | None = None


class PackageIndexError(Exception):
    """The index could not answer (unreachable, timeout, unexpected reply); the message is
    safe to show."""


class PackageIndex:
    """A PyPI-compatible JSON API at ``root`` (e.g. ``https://pypi.org/pypi``)."""

    def __init__(
        self,
        root: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        client: httpx.Client | None = None,
    ) -> None:
        self.root = root.rstrip("/")
        self._client = client or httpx.Client(
            timeout=timeout, follow_redirects=False, headers={"Accept": "application/json"}
        )
        self._owns_client = client is None
        self._answers: dict[tuple[str, str], PackageAnswer] = {}
        self._lock = threading.Lock()

    def lookup(self, project: str, version: str) -> PackageAnswer:
        """The index's answer for one release; :class:`PackageIndexError` when it has none."""
        name = canonicalize_name(project)
        key = (name, version)
        with self._lock:
            cached = self._answers.get(key)
        if cached is not None:
            return cached
        answer = self._ask(name, version)
        with self._lock:
            self._answers[key] = answer
        return answer

    def _ask(self, name: str, version: str) -> PackageAnswer:
        release = self._get(f"{quote(name, safe='')}/{quote(version, safe='')}/json")
        if release is not None:
            return _release_answer(name, version, release)
        project = self._get(f"{quote(name, safe='')}/json")
        if project is None:
            return PackageAnswer(name, version, "no-project")
        releases = project.get("releases")
        if isinstance(releases, dict):
            wanted = _version(version)
            for number, files in releases.items():
                if wanted is not None and _version(number) == wanted:
                    return _files_answer(name, version, files)
        return PackageAnswer(name, version, "missing")

    def _get(self, path: str) -> dict[str, Any] | None:
        """The JSON document at ``root/path``; ``None`` for a 404."""
        url = f"{self.root}/{path}"
        try:
            response = self._client.get(url)
        except httpx.TimeoutException:
            raise PackageIndexError(
                f"the package index at {self.root} did not answer in time"
            ) from None
        except httpx.HTTPError as error:
            raise PackageIndexError(
                f"the package index at {self.root} is unreachable ({type(error).__name__})"
            ) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise PackageIndexError(
                f"the package index at {self.root} answered {response.status_code} for {path}"
            )
        try:
            document = response.json()
        except ValueError:
            raise PackageIndexError(
                f"the package index at {self.root} answered {path} with something not JSON"
            ) from None
        if not isinstance(document, dict):
            raise PackageIndexError(f"the package index at {self.root} answered {path} oddly")
        return document

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> PackageIndex:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def package_index_from_settings() -> PackageIndex | None:
    """The index at ``REGISTRY_PACKAGE_INDEX_URL``, ``None`` when it is unset (no check)."""
    from django.conf import settings

    root = getattr(settings, "REGISTRY_PACKAGE_INDEX_URL", None)
    if not root:
        return None
    return PackageIndex(
        root, timeout=float(getattr(settings, "REGISTRY_PACKAGE_INDEX_TIMEOUT", DEFAULT_TIMEOUT))
    )


def _release_answer(name: str, version: str, document: dict[str, Any]) -> PackageAnswer:
    info = document.get("info")
    if not isinstance(info, dict):
        info = {}
    if info.get("yanked"):
        return PackageAnswer(name, version, "yanked", _reason(info.get("yanked_reason")))
    files = document.get("urls")
    if isinstance(files, list) and files:
        return _files_answer(name, version, files)
    return PackageAnswer(name, version, "present")


def _files_answer(name: str, version: str, files: Any) -> PackageAnswer:
    # A release is yanked when every one of its files is (PEP 592).
    entries = (
        [entry for entry in files if isinstance(entry, dict)] if isinstance(files, list) else []
    )
    if entries and all(entry.get("yanked") for entry in entries):
        return PackageAnswer(name, version, "yanked", _reason(entries[0].get("yanked_reason")))
    return PackageAnswer(name, version, "present")


def _reason(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = "".join(ch if ch.isprintable() else "?" for ch in value.strip())
    return text[:200]


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None
