"""Gather what the outside world says about a list of pins, then judge them.

One ``ls-remote`` per distinct URL (not per pin), at bounded concurrency; one index lookup per
distinct package version; one ancestry question per changed pin against the cached clones.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from registry.git.clones import CloneCache
from registry.git.errors import GitRemoteError, RemoteRefused
from registry.git.policy import GitPolicy
from registry.git.remote import list_remotes
from registry.git.urls import checked_url
from releases.manifests.model import Finding

from .checks import PackageKey, PinResult, PinToCheck, check_descends, judge_pins
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
