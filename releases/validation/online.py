"""Gather what the outside world says about a list of pins, then judge them.

One ``ls-remote`` per distinct URL (not per pin), at bounded concurrency; one index lookup per
distinct package version; one ancestry question per changed pin against the cached clones.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from registry.git.clones import CloneCache
from registry.git.errors import GitRemoteError, RemoteRefused
from registry.git.policy import GitPolicy
from registry.git.remote import list_remotes
from registry.git.urls import checked_url
from releases.manifests.model import Finding, Manifest, ManifestRejected
from releases.manifests.report import ValidityReport, report_outcomes

from .checks import (
    PackageKey,
    PinResult,
    PinToCheck,
    check_descends,
    judge_pins,
    pins_from_manifest,
)
from .package_index import PackageAnswer, PackageIndex, PackageIndexError

DEFAULT_CONCURRENCY = 8


def validate_pins(
    pins: Sequence[PinToCheck],
    *,
    policy: GitPolicy,
    package_index: PackageIndex | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[PinResult]:
    """Every pin's online findings, in the order given."""
    answers = list_remotes(
        (pin.url for pin in pins if pin.url is not None), policy, concurrency=concurrency
    )
    packages = (
        lookup_packages(pins, package_index, concurrency=concurrency)
        if package_index is not None
        else None
    )
    return judge_pins(pins, answers, packages)


def lookup_packages(
    pins: Sequence[PinToCheck], index: PackageIndex, *, concurrency: int = DEFAULT_CONCURRENCY
) -> dict[PackageKey, PackageAnswer | PackageIndexError]:
    """The index's answer (or why there is none) per distinct (project, version)."""
    keys = list(dict.fromkeys(pin.package_key for pin in pins if pin.package_key is not None))

    def one(key: PackageKey) -> PackageAnswer | PackageIndexError:
        try:
            return index.lookup(*key)
        except PackageIndexError as error:
            return error

    if not keys:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(keys)))) as pool:
        return dict(zip(keys, pool.map(one, keys), strict=True))


def backport_findings(pin: PinToCheck, previous_sha: str, clones: CloneCache) -> list[Finding]:
    """Backport safety for a pin whose commit changed from ``previous_sha``: a
    ``not-descendant`` warning when its new commit does not descend from the old one."""
    if pin.url is None or pin.commit_sha is None or pin.commit_sha == previous_sha:
        return []
    try:
        checked_url(pin.url, clones.policy)
        answer: bool | GitRemoteError = clones.is_descendant(pin.url, previous_sha, pin.commit_sha)
    except RemoteRefused:
        # The online check already says why this URL is not contacted.
        return []
    except GitRemoteError as error:
        answer = error
    return list(check_descends(pin, previous_sha, answer))


def online_report(
    outcomes: Sequence[tuple[str, Manifest | ManifestRejected]],
    *,
    policy: GitPolicy,
    template: str | None = None,
    package_index: PackageIndex | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> ValidityReport:
    """The offline report of manifests already read (:func:`report_outcomes`) with every
    accepted document's online findings added after its offline ones: one ``ls-remote`` per
    distinct URL over all the documents. Pins without a ``url`` use ``template``
    (``REGISTRY_GIT_URL_TEMPLATE``); no database, so the catalogue's URLs are not known."""
    offline = report_outcomes(outcomes)
    pins: list[PinToCheck] = []
    owners: list[int] = []
    for position, ((_, outcome), document) in enumerate(
        zip(outcomes, offline.documents, strict=True)
    ):
        if isinstance(outcome, Manifest) and not document.rejected:
            for pin in pins_from_manifest(outcome, template=template):
                pins.append(pin)
                owners.append(position)
    results = validate_pins(
        pins, policy=policy, package_index=package_index, concurrency=concurrency
    )
    online: dict[int, list[Finding]] = {}
    for position, result in zip(owners, results, strict=True):
        online.setdefault(position, []).extend(result.findings)
    return ValidityReport(
        tuple(
            replace(document, findings=document.findings + tuple(online.get(position, ())))
            for position, document in enumerate(offline.documents)
        )
    )
