"""Benchmark of the manifests sync against one plain ``git fetch``.

Run from the project root: ``python bench/gitops.py [--files N] [--pins N] [--repeat N]``
(``make bench`` runs it). A repository of N manifests is served by ``git daemon`` on
127.0.0.1; the figures are the first sync (clone, read and import every file), a sync with
nothing new (best of the repeats), a sync after one file changed, and one ``git fetch`` with
nothing new in a bare clone, run the way the sync runs git. A fresh SQLite database in a
temporary directory is used and thrown away.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300, help="manifests in the folder (300)")
    parser.add_argument("--pins", type=int, default=30, help="repositories per manifest (30)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of the quick measures (5)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-gitops-") as folder:
        os.environ["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
        run(args, Path(folder))
    return 0


def run(args: argparse.Namespace, folder: Path) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from registry.git.policy import GitPolicy
    from registry.git.remote import run_git
    from registry.git.urls import checked_url
    from releases.gitops.repository import ManifestsRepository
    from releases.gitops.sync import sync_manifests
    from tests.gitserver import GitDaemon, RepositoryFolder
    from tests.releases.gitops.texts import manifest_text
    from tests.releases.gitops.worktree import ManifestsWorkTree

    settings.DEBUG = False
    call_command("migrate", verbosity=0, interactive=False)
    served = RepositoryFolder(folder / "served")
    bare, relative = served.create("platform/release-orchestrator")
    policy = GitPolicy.build(schemes=["git"], hosts=["127.0.0.1"], timeout=60)
    with GitDaemon(served.root) as daemon:
        url = daemon.url(relative)
        work = ManifestsWorkTree(folder / "work", bare.path, url)
        versions = [f"{major}.{minor}" for major in range(1, 1000) for minor in range(10)]
        for version in versions[: args.files]:
            work.write(f"manifests/v{version}.yaml", manifest_text(version, pins=args.pins))
        work.commit("the releases")
        work.push("main")

        def sync() -> tuple[float, int]:
            repository = ManifestsRepository(url, policy, folder / "clones")
            started = time.perf_counter()
            report = sync_manifests(repository, branches=["main", "release/*"])
            assert report.ok, report.as_dict()
            return (time.perf_counter() - started) * 1000, report.blobs_read

        first, read = sync()
        print(f"first sync of {args.files} files x {args.pins} pins: {first:8.0f} ms ({read} read)")
        noop = min(sync()[0] for _ in range(args.repeat))
        print(f"sync with nothing new:                {noop:8.1f} ms (0 read)")

        remote = checked_url(url, policy)
        plain = folder / "plain.git"
        run_git(["clone", "--bare", "--quiet", "--", url, str(plain)], policy=policy, remote=remote)
        fetches = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            run_git(
                ["fetch", "--quiet", "--", url, "+refs/heads/*:refs/heads/*"],
                policy=policy,
                remote=remote,
                cwd=plain,
            )
            fetches.append((time.perf_counter() - started) * 1000)
        fetch = min(fetches)
        print(f"one git fetch with nothing new:       {fetch:8.1f} ms")
        print(f"ratio no-op sync / git fetch:         {noop / fetch:8.2f}")

        work.write("manifests/v1.4.yaml", manifest_text("1.4", pins=args.pins, patch=1))
        work.commit("1.4 patch")
        work.push("main")
        one, read = sync()
        print(f"sync after one file changed:          {one:8.1f} ms ({read} read)")


if __name__ == "__main__":
    sys.exit(main())
