"""Benchmark of "what changed" and the environment diff.

Run from the project root: ``make bench`` or ``python bench/changes.py [--repeat N]``. 40
repositories ``pytroll/repo-NN`` of 200 commits each are built in a temporary folder and served
by ``git daemon`` on 127.0.0.1. Release 4.0 (live in production) pins commit 50 of each, release
4.1 (live in staging) commit 150: 100 commits per pin, 50 listed. Printed, in milliseconds
(best of N):

- ``what_changed("4.1", "production")`` with an empty clone cache (40 blobless clones, then
  the questions), against the floor: the same 40 clones and, in each, ``log -50`` and
  ``rev-list --count`` from a bare loop of subprocesses at the same concurrency;
- the same with the clones cached (no network), against the floor of the same local git
  commands from a bare loop (target: <= 2x: the service also resolves both commits and asks
  for the merge base, under the hardened environment);
- ``diff_environments("production", "staging")`` with 200 more releases live side by side in
  both, now and at a past moment, against loading the two compared manifests.

Timings never change the exit status. The database is a throwaway one, as for ``bench/run.py``
(``BENCH_DATABASE_URL`` for PostgreSQL).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import database_and_git_folder  # noqa: E402
from bench.validation import best_of  # noqa: E402

REPOSITORIES = 40
COMMITS = 200
OLD, NEW = 50, 150
LIMIT = 50
CONCURRENCY = 8
SIDE_BY_SIDE = 200


def manifest(version: str, environment: str, shas: dict[str, list[str]], index: int) -> str:
    lines = [
        f'version: "{version}"',
        "environments:",
        f"  {environment}:",
        f'    deployed_at: "2026-0{2 if index == NEW else 1}-20T14:30:00Z"',
        f'    namespace: "{environment}-{version}"',
        "repositories:",
    ]
    for name in sorted(shas):
        lines += [
            f'  - name: "{name}"',
            f'    tag: "v1.{index}.0"',
            f'    commit_sha: "{shas[name][index]}"',
            "    package_version: null",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (best counts)")
    args = parser.parse_args(argv)
    with database_and_git_folder() as (where, tmp):
        run(args, where, tmp)
    return 0


def run(args: argparse.Namespace, where: str, tmp: Path) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from registry.git.clones import CloneCache
    from registry.git.policy import GitPolicy
    from releases.environment_diff import diff_environments
    from releases.exporting import load_manifests
    from releases.importing import import_manifests
    from releases.manifests import parse_manifest
    from releases.what_changed import what_changed
    from tests.gitserver import BUILD_ENVIRONMENT, GIT, GitDaemon, RepositoryFolder
    from tests.releases.manifests import generated_manifest

    settings.DEBUG = False
    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    folder = tmp / "served"
    served = RepositoryFolder(folder)
    shas: dict[str, list[str]] = {}
    for number in range(REPOSITORIES):
        name = f"pytroll/repo-{number:02d}"
        repository, _ = served.create(name, prefix="bench")
        shas[name] = repository.commits(COMMITS)
    texts = [
        ("v4.0.yaml", manifest("4.0", "production", shas, OLD)),
        ("v4.1.yaml", manifest("4.1", "staging", shas, NEW)),
    ]
    texts += [(f"v5.{i}.yaml", generated_manifest(20, f"5.{i}")) for i in range(SIDE_BY_SIDE)]
    import_manifests([(source, parse_manifest(text, source=source)) for source, text in texts])
    past = timezone.now()
    with GitDaemon(folder) as daemon:
        settings.REGISTRY_GIT_URL_TEMPLATE = daemon.url("bench/{name}.git")
        settings.REGISTRY_VALIDATION_CONCURRENCY = CONCURRENCY
        settings.REGISTRY_CHANGES_MAX_COMMITS = LIMIT
        urls = [daemon.url(f"bench/{name}.git") for name in sorted(shas)]
        print(
            f"What changed: {REPOSITORIES} pins x {NEW - OLD} commits ({LIMIT} listed) over "
            f"repositories served by git daemon, concurrency {CONCURRENCY}; {where}; "
            f"set up in {time.perf_counter() - started:.1f} s"
        )
        policy = GitPolicy.build(schemes=["git"], hosts=["127.0.0.1"], timeout=60)
        cache = tmp / "cache"
        clones = CloneCache(cache, policy)

        def ask() -> None:
            answer = what_changed("4.1", "production", clones=clones)
            assert {row.status for row in answer.pins} == {"forward"}, answer.pins[0]
            assert all(row.more == NEW - OLD - LIMIT for row in answer.pins)

        def empty_cache() -> None:
            shutil.rmtree(cache, ignore_errors=True)

        cold = best_of(args.repeat, ask, reset=empty_cache)
        warm = best_of(args.repeat, ask)

        bare = tmp / "bare"

        def git(*command: str, cwd: Path | None = None) -> None:
            subprocess.run(
                [GIT, *command], env=BUILD_ENVIRONMENT, cwd=cwd, capture_output=True, check=True
            )

        def questions(index: int, path: Path) -> None:
            name = sorted(shas)[index]
            span = f"{shas[name][OLD]}..{shas[name][NEW]}"
            git("log", f"--max-count={LIMIT}", "--format=%H%x00%an%x00%aI%x00%s", span, cwd=path)
            git("rev-list", "--count", span, cwd=path)

        def floor_cold() -> None:
            shutil.rmtree(bare, ignore_errors=True)
            bare.mkdir()

            def one(pair: tuple[int, str]) -> None:
                path = bare / f"{pair[0]}.git"
                git("clone", "--bare", "--quiet", "--filter=blob:none", "--", pair[1], str(path))
                questions(pair[0], path)

            with ThreadPoolExecutor(CONCURRENCY) as pool:
                list(pool.map(one, enumerate(urls)))

        def floor_warm() -> None:
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                list(pool.map(lambda i: questions(i, bare / f"{i}.git"), range(len(urls))))

        cold_floor = best_of(args.repeat, floor_cold)
        warm_floor = best_of(args.repeat, floor_warm)

    def diff_now() -> None:
        assert diff_environments("production", "staging").comparison is not None

    def diff_past() -> None:
        diff = diff_environments("production", "staging", a_at=past, b_at=past)
        assert diff.comparison is not None

    def two_manifests() -> None:
        load_manifests(["4.0", "4.1"])

    now_diff = best_of(args.repeat, diff_now)
    past_diff = best_of(args.repeat, diff_past)
    loading = best_of(args.repeat, two_manifests)

    rows = [
        ("what changed, empty clone cache", cold, cold_floor, None),
        ("floor: 40 clones + log + count", cold_floor, cold_floor, None),
        ("what changed, clones cached", warm, warm_floor, 2.0),
        ("floor: log + count in 40 clones", warm_floor, warm_floor, None),
        (f"environment diff, {SIDE_BY_SIDE + 1} live, now", now_diff, loading, None),
        (f"environment diff, {SIDE_BY_SIDE + 1} live, at", past_diff, loading, None),
        ("load the two compared manifests", loading, loading, None),
    ]
    print(f"{'measure':<36} {'ms':>9} {'ratio':>8}  against")
    for label, value, against, target in rows:
        ratio = value / against if against else float("nan")
        verdict = ""
        if target is not None:
            verdict = "  ok" if ratio <= target else f"  over target ({target}x)"
        print(f"{label:<36} {value:>9.1f} {ratio:>7.2f}x  its floor{verdict}")
    print(f"(best of {args.repeat}; total {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    raise SystemExit(main())
