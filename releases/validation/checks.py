"""Online checks: small named functions over plain data, each yielding located findings.

The same shape as the codec's offline checks (:mod:`releases.manifests.checks`), but their
input is a pin (:class:`PinToCheck`) and what the outside world answered: the remote's tag map
(:class:`registry.git.remote.RemoteTags`) or the error that stopped the listing, the package
index's answer, the clone's ancestry answer. They do no I/O, so a run gathers the answers once
(one ``ls-remote`` per distinct URL) and judges every pin from them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from registry.git.errors import CommitNotFound, GitRemoteError, RemoteRefused
from registry.git.remote import RemoteTag, RemoteTags
from registry.git.urls import pin_url
from releases.manifests.checks import SHA_RE
from releases.manifests.model import Finding, Manifest

from .package_index import PackageAnswer, PackageIndexError

# Every code these checks produce: a validation run replaces these on a pin and leaves the
# offline ones (releases.manifests.checks.OFFLINE_CODES) to the import.
ONLINE_CODES = frozenset(
    {
        "unreachable",
        "url-refused",
        "url-missing",
        "tag-missing",
        "sha-mismatch",
        "package-missing",
        "package-yanked",
        "index-unreachable",
        "not-descendant",
        "ancestry-unknown",
    }
)
# Findings that mean the remote was never listed, so nothing is known about the pin's tag or
# commit: the pin's state is "unreachable", never "invalid" (CONTRACT §1).
UNREACHABLE_CODES = frozenset({"unreachable", "url-refused"})
# No URL to check at all: the pin stays "not checked".
UNCHECKED_CODES = frozenset({"url-missing"})

RemoteAnswer = RemoteTags | GitRemoteError
PackageKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class PinToCheck:
    """What the online checks need of one pin. ``index`` is its position in the release
    (findings are located at ``repositories[index]...``); ``url`` the remote to list, already
    chosen by :func:`registry.git.urls.pin_url` (``None``: there is none)."""

    index: int
    name: str
    tag: str
    commit_sha: str | None = None
    package_version: str | None = None
    url: str | None = None
    package_name: str | None = None

    @property
    def path(self) -> str:
        return f"repositories[{self.index}]"

    @property
    def project(self) -> str:
        """The package's name on the index: ``package_name``, else the name's last segment
        (``pytroll/fogpy`` is the project ``fogpy``)."""
        return self.package_name or self.name.rsplit("/", 1)[-1]

    @property
    def package_key(self) -> PackageKey | None:
        if self.package_version is None:
            return None
        return (self.project, self.package_version)


@dataclass(frozen=True, slots=True)
class PinResult:
    """A pin's online findings, and the full commit SHA its tag resolves to on the remote
    (``None`` when the remote was not listed or has no such tag)."""

    pin: PinToCheck
    findings: tuple[Finding, ...]
    resolved_sha: str | None
    reached: bool


def pins_from_manifest(
    manifest: Manifest,
    *,
    template: str | None = None,
    git_urls: Mapping[str, str] | None = None,
    package_names: Mapping[str, str] | None = None,
) -> list[PinToCheck]:
    """The manifest's entries as pins to check; ``git_urls`` and ``package_names`` are the
    catalogue's per-repository values, ``template`` is ``REGISTRY_GIT_URL_TEMPLATE``."""
    git_urls = git_urls or {}
    package_names = package_names or {}
    return [
        PinToCheck(
            index=index,
            name=entry.name,
            tag=entry.tag,
            commit_sha=entry.commit_sha,
            package_version=entry.package_version,
            url=pin_url(
                entry.name, url=entry.url, git_url=git_urls.get(entry.name), template=template
            ),
            package_name=package_names.get(entry.name),
        )
        for index, entry in enumerate(manifest.repositories)
    ]


def check_reachable(pin: PinToCheck, answer: RemoteAnswer | None) -> Iterator[Finding]:
    """The remote was listed; else why not: no URL, a URL the policy refuses, or a remote
    that could not be reached (network, timeout, not found, authentication, redirect)."""
    if pin.url is None or answer is None:
        yield Finding(
            "url-missing",
            "warning",
            pin.path,
            f"no git URL for {pin.name!r}: set the pin's url, the repository's git URL or "
            "REGISTRY_GIT_URL_TEMPLATE",
        )
    elif isinstance(answer, RemoteRefused):
        yield Finding("url-refused", "error", f"{pin.path}.url", f"not contacted: {answer.reason}")
    elif isinstance(answer, GitRemoteError):
        yield Finding(
            "unreachable", "error", pin.path, f"{answer.url} unreachable: {answer.reason}"
        )


def check_tag_exists(pin: PinToCheck, tags: RemoteTags) -> Iterator[Finding]:
    """The pin's tag is on the remote."""
    if tags.get(pin.tag) is not None:
        return
    close = difflib.get_close_matches(pin.tag, list(tags.tags), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    yield Finding(
        "tag-missing",
        "error",
        f"{pin.path}.tag",
        f"the tag {pin.tag!r} is not in {tags.url}{hint}",
    )


def check_commit_sha(pin: PinToCheck, tags: RemoteTags) -> Iterator[Finding]:
    """The pin's commit SHA is the tag's commit (annotated tags peeled; an abbreviated SHA is
    compared as a prefix). A pin holding the annotated tag object's SHA is told so."""
    tag = tags.get(pin.tag)
    sha = pin.commit_sha
    if tag is None or sha is None or not SHA_RE.fullmatch(sha):
        return
    wanted = sha.lower()
    if tag.commit_sha.startswith(wanted):
        return
    path = f"{pin.path}.commit_sha"
    if tag.tag_sha is not None and tag.tag_sha.startswith(wanted):
        yield Finding(
            "sha-mismatch",
            "error",
            path,
            f"{sha} is the SHA of the annotated tag object {pin.tag!r}, not of its commit: "
            f"pin the commit {tag.commit_sha}",
        )
        return
    yield Finding(
        "sha-mismatch",
        "error",
        path,
        f"the tag {pin.tag!r} points at commit {tag.commit_sha}, not {sha}",
    )


def check_package(
    pin: PinToCheck, answer: PackageAnswer | PackageIndexError | None
) -> Iterator[Finding]:
    """The package version is on the index and not yanked (only when an index is configured
    and the pin names a package version: ``answer`` is ``None`` otherwise)."""
    if answer is None or pin.package_version is None:
        return
    path = f"{pin.path}.package_version"
    if isinstance(answer, PackageIndexError):
        yield Finding("index-unreachable", "warning", path, f"not checked: {answer}")
    elif answer.state == "no-project":
        yield Finding(
            "package-missing",
            "error",
            path,
            f"the package index has no project {answer.project!r}",
        )
    elif answer.state == "missing":
        yield Finding(
            "package-missing",
            "error",
            path,
            f"{answer.project} {pin.package_version} is not on the package index",
        )
    elif answer.state == "yanked":
        reason = f": {answer.yanked_reason}" if answer.yanked_reason else ""
        yield Finding(
            "package-yanked",
            "warning",
            path,
            f"{answer.project} {pin.package_version} was yanked from the package index{reason}",
        )


def check_descends(
    pin: PinToCheck, previous_sha: str, answer: bool | GitRemoteError
) -> Iterator[Finding]:
    """A pin that moved from ``previous_sha`` to its commit moved forward (backport safety):
    ``answer`` is whether the new commit descends from the old one."""
    path = f"{pin.path}.commit_sha"
    if answer is True:
        return
    if answer is False:
        yield Finding(
            "not-descendant",
            "warning",
            path,
            f"{pin.commit_sha} does not descend from {previous_sha}, the commit this pin held "
            "before: the change may drop commits that were released",
        )
    elif isinstance(answer, CommitNotFound):
        yield Finding("ancestry-unknown", "warning", path, f"backport not checked: {answer.reason}")
    else:
        yield Finding(
            "ancestry-unknown",
            "warning",
            path,
            f"backport not checked: {answer.url} unreachable: {answer.reason}",
        )


def judge_pin(
    pin: PinToCheck,
    answer: RemoteAnswer | None,
    package: PackageAnswer | PackageIndexError | None = None,
) -> PinResult:
    """Every online finding of one pin, from the answers gathered for it."""
    findings = list(check_reachable(pin, answer))
    resolved: RemoteTag | None = None
    reached = isinstance(answer, RemoteTags)
    if isinstance(answer, RemoteTags):
        findings += check_tag_exists(pin, answer)
        findings += check_commit_sha(pin, answer)
        resolved = answer.get(pin.tag)
    findings += check_package(pin, package)
    return PinResult(
        pin=pin,
        findings=tuple(findings),
        resolved_sha=resolved.commit_sha if resolved is not None else None,
        reached=reached,
    )


def judge_pins(
    pins: Sequence[PinToCheck],
    answers: Mapping[str, RemoteAnswer],
    packages: Mapping[PackageKey, PackageAnswer | PackageIndexError] | None = None,
) -> list[PinResult]:
    """Judge every pin from one answer per distinct URL (and, when an index is configured, one
    per package version). A pin whose URL has no answer is a caller's mistake: KeyError."""
    results = []
    for pin in pins:
        answer = answers[pin.url] if pin.url is not None else None
        key = pin.package_key
        package = packages.get(key) if packages is not None and key is not None else None
        results.append(judge_pin(pin, answer, package))
    return results
