"""Three releases over real repositories served by ``git daemon`` on 127.0.0.1: the world of
the environment diff and "what changed" tests.

- 1.3 and 1.4 live side by side in production (1.4 deployed last), 1.5 live in staging.
- From 1.4 to 1.5: ``pytroll/satpy`` moves forward 3 commits (one with a unicode subject),
  ``openstack/nova`` moves backwards (1.5's commit is an ancestor of 1.4's, 3 commits taken
  away), ``pytroll/fogpy`` moves forward 120 commits (more than the bound of 50),
  ``acme/rewritten`` points at a commit of unrelated history, ``acme/sideways`` at a commit
  beside the old one, ``acme/gone`` lives at a URL that does not exist, ``acme/steady`` stays,
  ``acme/newcomer`` is added and ``acme/retiree`` removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.gitserver import BareRepository, GitDaemon, RepositoryFolder
from tests.releases.manifests import import_text


@dataclass
class ChangesWorld:
    urls: dict[str, str] = field(default_factory=dict)
    # "<repository> <release>" -> the full SHA that release pins.
    shas: dict[str, str] = field(default_factory=dict)
    satpy_subjects: list[str] = field(default_factory=list)
    repositories: dict[str, BareRepository] = field(default_factory=dict)


def build_repositories(folder: RepositoryFolder, daemon: GitDaemon) -> ChangesWorld:
    world = ChangesWorld()

    def create(name: str):
        repo, relative = folder.create(name)
        world.urls[name] = daemon.url(relative)
        world.repositories[name] = repo
        return repo

    satpy = create("pytroll/satpy")
    (base,) = satpy.commits(1)
    world.satpy_subjects = ["Reader for Météo-France files", "Fix the äöü in AVHRR", "Release"]
    new = [satpy.commit(subject) for subject in world.satpy_subjects]
    world.shas.update({"pytroll/satpy 1.3": base, "pytroll/satpy 1.4": base})
    world.shas["pytroll/satpy 1.5"] = new[-1]

    nova = create("openstack/nova")
    history = nova.commits(5)
    world.shas.update({"openstack/nova 1.3": history[4], "openstack/nova 1.4": history[4]})
    world.shas["openstack/nova 1.5"] = history[1]

    fogpy = create("pytroll/fogpy")
    (start,) = fogpy.commits(1)
    many = fogpy.commits(120)
    world.shas.update({"pytroll/fogpy 1.3": start, "pytroll/fogpy 1.4": start})
    world.shas["pytroll/fogpy 1.5"] = many[-1]

    rewritten = create("acme/rewritten")
    (first,) = rewritten.commits(1)
    other_root = rewritten.commit("History started again", parent="")
    rewritten.git("update-ref", "refs/heads/main", first)
    rewritten.git("update-ref", "refs/heads/restart", other_root)
    world.shas.update({"acme/rewritten 1.3": first, "acme/rewritten 1.4": first})
    world.shas["acme/rewritten 1.5"] = other_root

    sideways = create("acme/sideways")
    root, fix = sideways.commits(2)
    beside = sideways.commit("The fix, done differently", parent=root)
    sideways.git("update-ref", "refs/heads/main", fix)
    sideways.git("update-ref", "refs/heads/other", beside)
    world.shas.update({"acme/sideways 1.3": fix, "acme/sideways 1.4": fix})
    world.shas["acme/sideways 1.5"] = beside

    steady = create("acme/steady")
    (kept,) = steady.commits(1)
    for version in ("1.3", "1.4", "1.5"):
        world.shas[f"acme/steady {version}"] = kept

    newcomer = create("acme/newcomer")
    world.shas["acme/newcomer 1.5"] = newcomer.commits(1)[0]
    retiree = create("acme/retiree")
    (gone_soon,) = retiree.commits(1)
    world.shas.update({"acme/retiree 1.3": gone_soon, "acme/retiree 1.4": gone_soon})

    world.urls["acme/gone"] = daemon.url("nowhere/acme/gone.git")
    world.shas.update(
        {
            "acme/gone 1.3": "1" * 40,
            "acme/gone 1.4": "1" * 40,
            "acme/gone 1.5": "2" * 40,
        }
    )
    return world


DEPLOYMENTS = {
    "1.3": ("production", "prod-v1.3", "2025-01-10T09:00:00Z"),
    "1.4": ("production", "prod-v1.4", "2025-01-20T14:30:00Z"),
    "1.5": ("staging", "staging-v1.5", "2025-02-01T08:00:00Z"),
}


def manifest_text(world: ChangesWorld, version: str) -> str:
    environment, namespace, deployed_at = DEPLOYMENTS[version]
    lines = [
        f'version: "{version}"',
        'created_at: "2025-01-05T10:00:00Z"',
        "environments:",
        f"  {environment}:",
        f'    deployed_at: "{deployed_at}"',
        f'    namespace: "{namespace}"',
        "repositories:",
    ]
    for key, sha in world.shas.items():
        name, pinned_in = key.rsplit(" ", 1)
        if pinned_in != version:
            continue
        lines += [
            f'  - name: "{name}"',
            f'    tag: "v{version}.0"',
            f'    commit_sha: "{sha}"',
            "    package_version: null",
            f'    url: "{world.urls[name]}"',
        ]
    return "\n".join(lines) + "\n"


def store_releases(world: ChangesWorld, versions: tuple[str, ...] = ("1.3", "1.4", "1.5")) -> None:
    for version in versions:
        import_text(manifest_text(world, version), source=f"manifests/v{version}.yaml")
