"""Benchmark of validation runs: 200 live releases x 20 pins over 40 repositories.

Run from the project root: ``make bench`` or ``python bench/validation.py [--repeat N]``. The
40 repositories are built in a temporary folder and served by ``git daemon`` on 127.0.0.1;
every release is live (deployed in production), so one validation of all of them is what the
beat schedule does. Printed, in milliseconds (best of N):

- the run: ``validate_releases_now`` of the 200 releases (one ``ls-remote`` per distinct URL
  for all of them, judging, recording 4,000 pins through the change hook), first when every
  pin's state changes (unchecked -> valid/invalid) and then when nothing changed;
- the floor: the same 40 ``ls-remote --tags`` calls at the same concurrency from a bare loop
  of subprocesses (target: the steady run <= 1.2x of it);
- the clone-per-repository approach: a blobless bare clone of each of the 40 at the same
  concurrency, and its ratio to the run.

The number of ``ls-remote`` calls a run made is counted through a recording git wrapper and
printed (it must be 40). Timings never change the exit status. The database is a throwaway
one, as for ``bench/run.py`` (``BENCH_DATABASE_URL`` for PostgreSQL).
"""

from __future__ import annotations

import argparse
import gc
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import database_and_git_folder  # noqa: E402

RELEASES = 200
PINS = 20
REPOSITORIES = 40
TAGS = 20
CONCURRENCY = 8


def best_of(
    repeat: int, action: Callable[[], Any], reset: Callable[[], Any] | None = None
) -> float:
    times = []
    for _ in range(repeat):
        if reset is not None:
            reset()
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def build_repositories(folder: Path) -> dict[str, list[str]]:
    """40 repositories ``org/repo-NN`` with 20 lightweight tags each; tag SHAs by name."""
    from tests.gitserver import RepositoryFolder

    served = RepositoryFolder(folder)
    shas: dict[str, list[str]] = {}
    for number in range(REPOSITORIES):
        name = f"pytroll/repo-{number:02d}"
        repository, _ = served.create(name, prefix="bench")
        commits = repository.commits(TAGS)
        repository.many_tags({f"v1.{tag}.0": commits[tag] for tag in range(TAGS)})
        shas[name] = commits
    return shas


def manifests(shas: dict[str, list[str]]) -> list[tuple[str, Any]]:
    """200 releases; release i pins 20 of the 40 repositories, one pin in 50 mismatched."""
    from releases.manifests import parse_manifest

    names = sorted(shas)
    documents = []
    for release in range(RELEASES):
        lines = [
            f'version: "3.{release}"',
            "environments:",
            "  production:",
            '    deployed_at: "2025-01-20T14:30:00Z"',
            f'    namespace: "prod-3-{release}"',
            "repositories:",
        ]
        for pin in range(PINS):
            name = names[(release + pin) % REPOSITORIES]
            tag = (release + pin) % TAGS
            sha = shas[name][tag] if (release * PINS + pin) % 50 else shas[name][(tag + 1) % TAGS]
            lines += [
                f'  - name: "{name}"',
                f'    tag: "v1.{tag}.0"',
                f'    commit_sha: "{sha}"',
                f'    package_version: "1.{tag}.0"',
            ]
        source = f"bench/v3.{release}.yaml"
        documents.append((source, parse_manifest("\n".join(lines) + "\n", source=source)))
    return documents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (best counts)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one steady run (cProfile, top functions) and count its queries",
    )
    args = parser.parse_args(argv)
    with database_and_git_folder() as (where, tmp):
        run(args, where, tmp)
    return 0


def run(args: argparse.Namespace, where: str, tmp: Path) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from releases.importing import import_manifests
    from releases.models import RepositoryPin
    from releases.validation.runs import live_releases, validate_releases_now
    from tests.gitserver import BUILD_ENVIRONMENT, GIT, GitDaemon, RecordedGit

    settings.DEBUG = False
    call_command("migrate", verbosity=0, interactive=False)
    started = time.perf_counter()
    folder = tmp / "served"
    shas = build_repositories(folder)
    wrapper = tmp / "wrapper"
    wrapper.mkdir()
    recorded = RecordedGit(wrapper)
    with GitDaemon(folder) as daemon:
        settings.REGISTRY_GIT_URL_TEMPLATE = daemon.url("bench/{name}.git")
        settings.REGISTRY_PACKAGE_INDEX_URL = None
        import_manifests(manifests(shas), user=None)
        releases = list(live_releases())
        urls = [daemon.url(f"bench/{name}.git") for name in sorted(shas)]
        print(
            f"Validation runs: {len(releases)} live releases x {PINS} pins over {len(urls)} "
            f"repositories served by git daemon, concurrency {CONCURRENCY}; {where}; "
            f"set up in {time.perf_counter() - started:.1f} s"
        )
        policy = recorded.policy(schemes=["git"])

        def validate() -> None:
            runs = validate_releases_now(
                releases, requested_by="bench", policy=policy, concurrency=CONCURRENCY
            )
            assert all(run.state == "done" for run in runs), [run.error for run in runs]

        def forget_results() -> None:
            RepositoryPin.objects.update(
                findings=[], validation_state="unchecked", validated_at=None
            )
            # The reset leaves some 57,000 objects in reference cycles (the change hook's
            # model instances): collected here, untimed, not by the run that follows.
            gc.collect()

        recorded.log.unlink(missing_ok=True)
        validate()
        calls = len(recorded.calls("ls-remote"))
        analyze()
        first = best_of(args.repeat, validate, reset=forget_results)
        steady = best_of(args.repeat, validate, reset=analyze)
        if args.profile:
            forget_results()
            profile_run("a run in which every pin's state changes", validate)
            profile_run("a steady run", validate)
        states = dict.fromkeys(("valid", "invalid"), 0)
        for state in RepositoryPin.objects.values_list("validation_state", flat=True):
            states[state] = states.get(state, 0) + 1

        def list_bare() -> None:
            def one(url: str) -> None:
                subprocess.run(
                    [str(recorded.path), "ls-remote", "--tags", "--", url],
                    env=BUILD_ENVIRONMENT,
                    capture_output=True,
                    check=True,
                )

            with ThreadPoolExecutor(CONCURRENCY) as pool:
                list(pool.map(one, urls))

        clones = tmp / "clones"

        def clone_each() -> None:
            shutil.rmtree(clones, ignore_errors=True)
            clones.mkdir()

            def one(pair: tuple[int, str]) -> None:
                subprocess.run(
                    [GIT, "clone", "--bare", "--quiet", "--filter=blob:none", "--", pair[1],
                     str(clones / f"{pair[0]}.git")],
                    env=BUILD_ENVIRONMENT,
                    capture_output=True,
                    check=True,
                )  # fmt: skip

            with ThreadPoolExecutor(CONCURRENCY) as pool:
                list(pool.map(one, enumerate(urls)))

        floor = best_of(args.repeat, list_bare)
        cloning = best_of(args.repeat, clone_each)

    print(f"ls-remote calls in one run: {calls} (one per repository: {len(urls)})")
    print(f"pins after a run: {states}")
    rows = [
        ("run, every pin's state changes", first, floor, None),
        ("run, nothing changed (steady)", steady, floor, 1.2),
        ("floor: 40 ls-remote, bare loop", floor, floor, None),
        ("clone each repository (blobless)", cloning, steady, None),
    ]
    print(f"{'measure':<36} {'ms':>9} {'ratio':>8}  against")
    for label, value, against, target in rows:
        ratio = value / against if against else float("nan")
        base = "the steady run" if against is steady else "the floor"
        verdict = ""
        if target is not None:
            verdict = "  ok" if ratio <= target else f"  over target ({target}x)"
        print(f"{label:<36} {value:>9.1f} {ratio:>7.2f}x  {base}{verdict}")
    print(f"(best of {args.repeat}; total {time.perf_counter() - started:.1f} s)")


def analyze() -> None:
    """The tables as autovacuum keeps them on a server in use (untimed): dead row versions
    cleared and planner statistics made. The beat schedule validates every live release
    once an hour, and autovacuum passes every minute; back-to-back runs in a throwaway
    database would each find the dead versions of the 4,000 rows the run before updated,
    and plans chosen from default guesses until autovacuum passed at a moment of its
    choosing, in the middle of a measure or not."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


def profile_run(label: str, validate: Callable[[], None]) -> None:
    """One run under cProfile (the top 30 by cumulative time), then its queries."""
    import cProfile
    import pstats

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    print(f"--- {label}")
    profiler = cProfile.Profile()
    with CaptureQueriesContext(connection) as queries:
        profiler.runcall(validate)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    print(f"queries: {len(queries)}")
    for query in queries.captured_queries:
        print(f"  {query['time']:>6}s  {query['sql'][:160]}")


if __name__ == "__main__":
    raise SystemExit(main())
