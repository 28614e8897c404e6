"""Benchmark of the Notion sync: an initial sync of 1,000 rows against the local Notion.

Run from the project root: ``make bench`` or ``python bench/notion.py [--rows N] [--rate R]
[--workers W]``. The local test server (tests/releases/notion/notion_server.py) answers 429
beyond ``--rate`` requests per second, and the sync is given the same budget
(``NOTION_REQUESTS_PER_SECOND``). It prints the achieved request rate next to the allowed one
(target >= 0.9 of it) and how many requests were refused (target: none). ``--workers`` senders
run at once, in threads sharing the budget, each on its own releases, as workers of a fleet
would. A report, not a test: the exit status is 0 either way.

The database is thrown away afterwards, as in ``bench/run.py`` (``BENCH_DATABASE_URL`` for
PostgreSQL, else a temporary SQLite file). Without ``REDIS_URL`` the budget is kept in memory.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import throwaway_database  # noqa: E402
from tests.releases.notion.notion_server import NotionServer  # noqa: E402

PINS_PER_RELEASE = 200
TARGET = 0.9


def manifest(version: str, pins: int) -> str:
    lines = [f'version: "{version}"', 'created_at: "2025-03-01T00:00:00Z"', "environments:"]
    lines += ["  production:", '    deployed_at: "2025-03-02T00:00:00Z"']
    lines += [f'    namespace: "prod-{version}"', "repositories:"]
    for i in range(pins):
        lines += [
            f'  - name: "org/service-{i:04d}"',
            f'    tag: "v{version}.{i}"',
            f'    commit_sha: "{i:040x}"',
            f'    package_version: "{version}.{i}"',
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="pins to sync (1000)")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second (100)")
    parser.add_argument("--workers", type=int, default=4, help="senders at once (4)")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DJANGO_READ_DOT_ENV_FILE"] = "false"
    # One line per request would drown the figures.
    os.environ.setdefault("DJANGO_LOG_LEVEL", "WARNING")
    with NotionServer() as server, throwaway_database() as where:
        views = server.state.create_database("Release Views")
        os.environ.update(
            NOTION_TOKEN=server.token,
            NOTION_BASE_URL=server.url,
            NOTION_RELEASE_VIEWS_DATABASE_ID=views,
            NOTION_REQUESTS_PER_SECOND=str(args.rate),
        )
        os.environ.pop("NOTION_PRODUCT_VERSIONS_DATABASE_ID", None)
        run(server, args, where)
    return 0


def run(server: NotionServer, args: argparse.Namespace, where: str) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from releases.importing import import_manifest
    from releases.manifests import parse_manifest
    from releases.notion.client import connect
    from releases.notion.sync import Outcome, due_releases, sync_release

    call_command("migrate", verbosity=0)
    # The changes queue while the imports run; the sync below sends them all.
    settings.NOTION_TOKEN = None
    left = args.rows
    number = 0
    while left > 0:
        number += 1
        pins = min(PINS_PER_RELEASE, left)
        text = manifest(f"8.{number}", pins)
        import_manifest(parse_manifest(text, source="bench.yaml"), source="bench.yaml")
        left -= pins
    settings.NOTION_TOKEN = server.token
    release_ids = due_releases()
    server.limit(args.rate)
    server.reset_log()

    outcome = Outcome()
    lock = threading.Lock()
    work = list(release_ids)

    def sender() -> None:
        notion = connect()
        assert notion is not None
        try:
            while True:
                with lock:
                    if not work:
                        return
                    release_id = work.pop(0)
                done = sync_release(notion, release_id)
                with lock:
                    outcome.add(done)
        finally:
            notion.close()
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=sender) for _ in range(max(1, args.workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started

    requests = server.requests
    refused = sum(1 for r in requests if r.status == 429)
    writes = sum(1 for r in requests if r.is_write and r.status == 200)
    achieved = len(requests) / elapsed
    ratio = achieved / args.rate
    pages = len(server.state.live_pages(str(settings.NOTION_RELEASE_VIEWS_DATABASE_ID)))
    verdict = "ok" if ratio >= TARGET and refused == 0 else "under target"
    print(
        f"Notion sync bench ({where}; {args.workers} sender(s), budget in "
        f"{'Redis' if settings.REDIS_URL else 'memory'})"
    )
    print(
        f"initial sync of {args.rows} rows: {pages} pages, {len(requests)} requests "
        f"({writes} writes) in {elapsed:.1f} s; {len(outcome.failed)} failed"
    )
    print(
        f"achieved {achieved:.1f} req/s, allowed {args.rate:.1f} req/s: ratio {ratio:.2f} "
        f"(target >= {TARGET}), refused (429): {refused}  {verdict}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
