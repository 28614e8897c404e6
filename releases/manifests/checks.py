"""Offline checks: small named functions over a parsed manifest, each yielding located findings.

Like openstack/releases' validator, every check is plain data in, findings out, and needs
neither a database nor the network. The online checks (tags and commits on the git hosts) build
on the same :class:`Finding`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from packaging.version import InvalidVersion, Version

from .model import Finding, Manifest, RepositoryEntry
from .rules import last_segment

SHA_RE = re.compile(r"^(?:[0-9a-fA-F]{7,40}|[0-9a-fA-F]{64})$")


def check_commit_shas(manifest: Manifest) -> Iterator[Finding]:
    for index, repo in enumerate(manifest.repositories):
        sha = repo.commit_sha
        if sha is not None and not SHA_RE.fullmatch(sha):
            yield Finding(
                "sha-malformed",
                "error",
                f"repositories[{index}].commit_sha",
                f"{sha!r} is not a commit SHA: expected 7 to 40 hexadecimal characters "
                "(64 for SHA-256 repositories)",
            )


def version_from_tag(repo: RepositoryEntry) -> str:
    """The version a tag names: ``v2.6.1`` and ``fogpy-2.6.1`` both give ``2.6.1``.

    A repository with an owner tags with its own name: ``pytroll/fogpy`` has ``fogpy-2.6.1``
    (``pytroll/fogpy-2.6.1`` is read too).
    """
    tag = repo.tag
    for name in dict.fromkeys((repo.name, last_segment(repo.name))):
        prefix = f"{name}-"
        if tag.lower().startswith(prefix.lower()):
            return tag[len(prefix) :]
    if tag[:1] in ("v", "V") and tag[1:2].isdigit():
        return tag[1:]
    return tag


def check_package_versions(manifest: Manifest) -> Iterator[Finding]:
    for index, repo in enumerate(manifest.repositories):
        if repo.package_version is None:
            continue
        path = f"repositories[{index}].package_version"
        try:
            package = Version(repo.package_version)
        except InvalidVersion:
            yield Finding(
                "version-unparsable",
                "warning",
                path,
                f"{repo.package_version!r} is not a PEP 440 version, so it cannot be compared "
                f"with the tag {repo.tag!r}",
            )
            continue
        tagged = version_from_tag(repo)
        try:
            tag_version = Version(tagged)
        except InvalidVersion:
            yield Finding(
                "version-unparsable",
                "warning",
                f"repositories[{index}].tag",
                f"the tag {repo.tag!r} does not name a PEP 440 version, so it cannot be compared "
                f"with the package version {repo.package_version!r}",
            )
            continue
        if package != tag_version:
            yield Finding(
                "version-mismatch",
                "error",
                path,
                f"package version {repo.package_version!r} does not match the tag {repo.tag!r} "
                f"(version {tag_version})",
            )


def check_dependency_cycles(manifest: Manifest) -> Iterator[Finding]:
    index_of = {repo.name: i for i, repo in enumerate(manifest.repositories)}
    graph = {repo.name: list(repo.depends_on) for repo in manifest.repositories}
    for component in _strongly_connected(graph, [repo.name for repo in manifest.repositories]):
        start = min(component, key=index_of.__getitem__)
        if len(component) == 1 and start not in graph[start]:
            continue
        cycle = _cycle_through(graph, start, set(component))
        yield Finding(
            "dependency-cycle",
            "error",
            f"repositories[{index_of[start]}].depends_on",
            "circular dependency: " + " -> ".join([*cycle, start]),
        )


def check_deployment_times(manifest: Manifest) -> Iterator[Finding]:
    if manifest.created_at is None:
        return
    for name, entry in manifest.environments.items():
        if entry.deployed_at is not None and entry.deployed_at < manifest.created_at:
            yield Finding(
                "deployed-before-created",
                "warning",
                f"environments.{name}.deployed_at",
                f"deployed to {name} before the release was created "
                f"({entry.deployed_at.isoformat()} < {manifest.created_at.isoformat()})",
            )


# The codes the checks above produce: an import replaces these on a pin and keeps any other
# (online) finding of a pin whose values did not change.
OFFLINE_CODES = frozenset(
    {
        "sha-malformed",
        "version-mismatch",
        "version-unparsable",
        "dependency-cycle",
        "deployed-before-created",
    }
)

OFFLINE_CHECKS: tuple[Callable[[Manifest], Iterator[Finding]], ...] = (
    check_commit_shas,
    check_package_versions,
    check_dependency_cycles,
    check_deployment_times,
)


def check_manifest(manifest: Manifest) -> list[Finding]:
    """Every offline finding of the manifest, in check order."""
    return [finding for check in OFFLINE_CHECKS for finding in check(manifest)]


def _strongly_connected(graph: dict[str, list[str]], order: list[str]) -> list[list[str]]:
    """Tarjan's algorithm, iterative so that a long chain cannot exhaust the stack."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    for root in order:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            edges = graph[node]
            if child < len(edges):
                work.append((node, child + 1))
                target = edges[child]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                result.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return result


def _cycle_through(graph: dict[str, list[str]], start: str, members: set[str]) -> list[str]:
    """A shortest path start -> ... -> start inside one strongly connected component."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in graph[node]:
                if target not in members:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return list(reversed(path))
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    return [start]
