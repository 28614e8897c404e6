"""Load run: many pipeline clients writing to the API at once, against gunicorn on PostgreSQL.

Run from the project root: ``make bench`` or ``python bench/load.py [--clients N] [--seconds S]``.

Each client is a thread acting as a CI pipeline with a token of its own. In a loop, for a
bounded time, it picks one of a few releases (200 pins each) and either

* **puts a manifest**: ``GET /api/releases/{v}/manifest``, moves a few pins to new tags,
  commits and package versions, writes a marker into ``metadata.notes``, and ``PUT``\\ s it
  back with ``If-Match: <the ETag it read>``; on 412 it reads again and retries, as a pipeline
  would; or
* **records a deployment**: ``PUT /api/releases/{v}/deployments/{env}/`` with a namespace
  naming the client and the write (no ``If-Match``: a deploy job states what it did).

Every accepted write is kept with the revision its answer's ``ETag`` carries. At the end the
run prints requests/s, p50 and p99 per kind of request, the count of 5xx (must be 0) and the
**no lost update** check: each release's manifest, read back, must be exactly the state its
accepted writes put it in when replayed in revision order (the last manifest written, then
every deployment recorded after it), every accepted write must have a revision of its own,
every manifest write accepted with ``If-Match`` must be the change right after the revision
it read, and the release's final revision must be the last one handed out. Exit status 1
when the check fails or a 5xx was seen (a broken invariant, not a slow run).

gunicorn runs 2 workers with ``config.settings.production`` (PostgreSQL, Redis as broker and
cache, JSON logs), behind a pretend TLS proxy (``X-Forwarded-Proto: https``); the per-token
throttle is off, to measure the API rather than the throttle. The database is a scratch one
(``BENCH_DATABASE_URL``, default the local PostgreSQL as ``postgres``), dropped at the end.
Redis is ``BENCH_REDIS_URL`` (else ``REDIS_URL``, else the local server's database 0); the
Notion sync tasks the writes enqueue go to a queue of the run's own, and the cached manifests
under a key prefix of its own, both deleted at the end.
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (str(ROOT), str(ROOT / "bench")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
QUEUE = "BENCH_LOAD_QUEUE"  # the Celery queue the served application sends to
ENVIRONMENTS = ("production", "staging", "qa")
PINS = 200
PINS_MOVED = 5  # pins a manifest write changes
MAX_RETRIES = 20  # 412s one manifest write may meet before the client gives up on it


# --- what gunicorn serves -----------------------------------------------------------------------


def application(environ: dict[str, Any], start_response: Any) -> Any:
    """The registry's WSGI application, sending its tasks to the run's own queue."""
    global _app
    if _app is None:
        from django.core.wsgi import get_wsgi_application

        _app = get_wsgi_application()
        from django.conf import settings

        from config.celery_app import app as celery

        celery.conf.task_default_queue = os.environ[QUEUE]
        # Cached manifests under the run's own prefix, removed at the end with its queue.
        settings.CACHES["default"]["KEY_PREFIX"] = os.environ[QUEUE]
    return _app(environ, start_response)


_app: Any = None


# --- the clients --------------------------------------------------------------------------------


@dataclass
class Write:
    """One accepted write: what it put, and the revision the answer named."""

    revision: int
    kind: str  # "manifest" or "deployment"
    base: int | None = None  # a manifest write's If-Match: the revision it read
    tree: dict[str, Any] | None = None  # a manifest write's manifest
    environment: str = ""
    deployment: dict[str, Any] | None = None  # a deployment write's values


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))
    writes: dict[str, list[Write]] = field(default_factory=lambda: defaultdict(list))
    gave_up: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    """A pipeline: its own token, one HTTP connection per request (gunicorn's sync workers
    close each one)."""

    def __init__(self, number: int, port: int, key: str, versions: list[str], tally: Tally):
        self.number = number
        self.port = port
        self.key = key
        self.versions = versions
        self.tally = tally
        self.rng = random.Random(number)
        self.written = 0

    def request(
        self, kind: str, method: str, path: str, body: Any = None, if_match: str | None = None
    ) -> tuple[int, dict[str, str], Any]:
        headers = {
            "Authorization": f"Token {self.key}",
            "Accept": "application/json",
            "X-Forwarded-Proto": "https",
            "X-Request-ID": f"load-{self.number}-{self.written}",
        }
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if if_match is not None:
            headers["If-Match"] = if_match
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
            status = response.status
            answer_headers = {name.lower(): value for name, value in response.getheaders()}
        finally:
            connection.close()
        elapsed = time.perf_counter() - started
        with self.tally.lock:
            self.tally.latencies[kind].append(elapsed)
            self.tally.statuses[(kind, status)] += 1
        parsed = json.loads(data) if data and status != 204 else None
        return status, answer_headers, parsed

    def run(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            version = self.rng.choice(self.versions)
            self.written += 1
            try:
                if self.rng.random() < 0.5:
                    self.put_manifest(version)
                else:
                    self.record_deployment(version)
            except Exception as exc:  # a client error is a finding of the run, not a crash
                with self.tally.lock:
                    self.tally.failures.append(f"client {self.number}: {exc!r}")

    def put_manifest(self, version: str) -> None:
        path = f"/api/releases/{version}/manifest"
        for _attempt in range(MAX_RETRIES):
            status, read, tree = self.request("GET manifest", "GET", path)
            if status != 200:
                return self.unexpected("GET manifest", status, tree)
            changed = self.moved(tree)
            status, headers, answer = self.request(
                "PUT manifest", "PUT", path, changed, if_match=read["etag"]
            )
            if status == 412:
                continue  # someone wrote since we read: read again, as a pipeline would
            if status != 200:
                return self.unexpected("PUT manifest", status, answer)
            write = Write(revision(headers), "manifest", base=revision(read), tree=changed)
            self.accepted(version, write)
            return None
        with self.tally.lock:
            self.tally.gave_up += 1
        return None

    def moved(self, tree: dict[str, Any]) -> dict[str, Any]:
        """The manifest with a few pins moved on and a marker naming this write."""
        changed = copy.deepcopy(tree)
        for entry in self.rng.sample(changed["repositories"], PINS_MOVED):
            bump = f"{self.rng.randint(0, 9)}.{self.rng.randint(0, 99)}.{self.number}"
            entry["tag"] = f"v{bump}"
            entry["commit_sha"] = secrets.token_hex(20)
            entry["package_version"] = bump
        changed["metadata"]["notes"] = f"client {self.number}, write {self.written}"
        return changed

    def record_deployment(self, version: str) -> None:
        environment = self.rng.choice(ENVIRONMENTS)
        at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.rng.randint(0, 10**7))
        values = {
            "namespace": f"{environment}-c{self.number}-w{self.written}",
            "deployed_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "status": "deployed",
        }
        path = f"/api/releases/{version}/deployments/{environment}/"
        status, headers, answer = self.request("PUT deployment", "PUT", path, values)
        if status not in (200, 201):
            return self.unexpected("PUT deployment", status, answer)
        write = Write(revision(headers), "deployment", environment=environment, deployment=values)
        self.accepted(version, write)
        return None

    def accepted(self, version: str, write: Write) -> None:
        with self.tally.lock:
            self.tally.writes[version].append(write)

    def unexpected(self, kind: str, status: int, body: Any) -> None:
        if status < 500:  # 5xx are counted from the statuses
            with self.tally.lock:
                self.tally.failures.append(f"{kind}: {status} {json.dumps(body)[:300]}")


def revision(headers: dict[str, str]) -> int:
    return int(headers["etag"].removeprefix("W/").strip('"'))


# --- the check ----------------------------------------------------------------------------------


def expected_state(writes: list[Write], seeded: dict[str, Any]) -> dict[str, Any]:
    """The manifest that replaying ``writes`` in revision order leaves."""
    tree = copy.deepcopy(seeded)
    for write in sorted(writes, key=lambda w: w.revision):
        if write.kind == "manifest":
            tree = copy.deepcopy(write.tree)  # type: ignore[arg-type]
        else:
            # As recorded: a status the caller wrote is written back, even where implied.
            values = dict(write.deployment)  # type: ignore[arg-type]
            tree.setdefault("environments", {})[write.environment] = values
    return tree


def check_release(
    version: str, writes: list[Write], seeded: dict[str, Any], port: int, key: str
) -> list[str]:
    """What is wrong with ``version``'s end state (nothing: an empty list)."""
    problems = []
    revisions = [w.revision for w in writes]
    repeated = sorted({r for r in revisions if revisions.count(r) > 1})
    if repeated:
        problems.append(
            f"{version}: answers of different writes named the same revision(s) {repeated[:5]}"
        )
    # A write accepted with If-Match must be the very next change after what it read: else it
    # replaced a change it never saw (or its answer named another write's revision).
    unseen = [w for w in writes if w.base is not None and w.revision != w.base + 1]
    if unseen:
        first = unseen[0]
        problems.append(
            f"{version}: {len(unseen)} manifest write(s) accepted over a change they had not "
            f"read (e.g. read revision {first.base}, answered {first.revision})"
        )
    reader = Client(-1, port, key, [], Tally())
    status, headers, final = reader.request("check", "GET", f"/api/releases/{version}/manifest")
    if status != 200:
        return [*problems, f"{version}: GET manifest answered {status}"]
    if writes and revision(headers) != max(revisions):
        problems.append(
            f"{version}: final revision {revision(headers)}, last accepted write {max(revisions)}"
        )
    expected = expected_state(writes, seeded)
    # Environments compare as a mapping (a new one is listed where the registry puts it).
    for tree in (expected, final):
        tree["environments"] = dict(sorted(tree.get("environments", {}).items()))
    if final != expected:
        differing = sorted(k for k in set(final) | set(expected) if final.get(k) != expected.get(k))
        problems.append(
            f"{version}: the stored manifest differs from the last accepted writes "
            f"in {', '.join(differing)}"
        )
        for name in sorted(set(final["environments"]) | set(expected["environments"])):
            stored, wanted = final["environments"].get(name), expected["environments"].get(name)
            if stored != wanted:
                problems.append(f"  environments.{name}: stored {stored}, expected {wanted}")
    return problems


# --- the run ------------------------------------------------------------------------------------


def seed(releases: int, clients: int) -> tuple[list[str], dict[str, dict[str, Any]], list[str]]:
    """``releases`` releases of ``PINS`` pins; returns their versions, their manifests as the
    API exports them, and one write token per client plus one to read with."""
    from django.core.management import call_command

    from bench.run import build_tree, to_yaml
    from releases.api.models import ApiToken
    from releases.exporting import export_release
    from releases.importing import import_manifests
    from releases.manifests import parse_manifest

    call_command("migrate", verbosity=0)
    versions = [f"8.{index}.0" for index in range(releases)]
    manifests = []
    for index, version in enumerate(versions):
        tree = build_tree(PINS, seed=100 + index)
        tree["version"] = version
        manifests.append((f"v{version}.yaml", parse_manifest(to_yaml(tree), source=version)))
    import_manifests(manifests)
    seeded = {v: json.loads(export_release(v, format="json")) for v in versions}
    keys = [ApiToken.create_token(f"pipeline-{n}", "write")[1] for n in range(clients + 1)]
    return versions, seeded, keys


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent pipelines (16)")
    parser.add_argument("--seconds", type=int, default=20, help="duration of the load (20)")
    parser.add_argument("--releases", type=int, default=4, help="releases written to (4)")
    args = parser.parse_args(argv)
    os.environ.setdefault("BENCH_DATABASE_URL", DEFAULT_SERVER)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DJANGO_DEBUG"] = "false"
    from bench.run import throwaway_database

    with throwaway_database() as where:
        if not where.startswith("PostgreSQL"):
            raise SystemExit("bench/load.py needs PostgreSQL (BENCH_DATABASE_URL)")
        import django

        django.setup()
        versions, seeded, keys = seed(args.releases, args.clients)
        from django.db import connections

        connections.close_all()
        return run(args, where, versions, seeded, keys)


def run(
    args: argparse.Namespace,
    where: str,
    versions: list[str],
    seeded: dict[str, Any],
    keys: list[str],
) -> int:
    import redis

    from bench.api import free_port, wait_until_up

    port = free_port()
    redis_url = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or DEFAULT_REDIS
    queue = f"bench-load-{os.getpid()}"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "REDIS_URL": redis_url,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "REGISTRY_API_THROTTLE_RATE": "",
        QUEUE: queue,
    }
    command = [
        sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
        "--chdir", str(ROOT), "--pythonpath", str(ROOT / "bench"), "--log-level", "warning",
        "load:application",
    ]  # fmt: skip
    # The server's log (a JSON line per 412 and per error) is kept aside; errors are shown.
    log = tempfile.NamedTemporaryFile(prefix="bench-load-", suffix=".log", delete=False)  # noqa: SIM115
    server = subprocess.Popen(command, env=environment, stderr=log)
    tally = Tally()
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", server)
        clients = [Client(n, port, keys[n], versions, tally) for n in range(args.clients)]
        deadline = time.monotonic() + args.seconds
        started = time.monotonic()
        threads = [threading.Thread(target=c.run, args=(deadline,)) for c in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        problems = []
        for version in versions:
            problems += check_release(
                version, tally.writes[version], seeded[version], port, keys[-1]
            )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        leftovers = redis.Redis.from_url(redis_url)
        leftovers.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
        for key in leftovers.scan_iter(match=f"{queue}:*"):
            leftovers.delete(key)
        log.close()
        logged = Path(log.name).read_text(errors="replace").splitlines()
        Path(log.name).unlink()
    errors = [line for line in logged if '"level": "ERROR"' in line or "Traceback" in line]
    for line in errors[:5]:
        print(f"server log: {line[:500]}")
    return report(args, where, tally, elapsed, problems)


def report(
    args: argparse.Namespace, where: str, tally: Tally, elapsed: float, problems: list[str]
) -> int:
    total = sum(len(v) for k, v in tally.latencies.items() if k != "check")
    print(
        f"Load: {args.clients} pipeline clients for {args.seconds}s against gunicorn "
        f"(2 workers, production settings), {args.releases} releases of {PINS} pins, {where}"
    )
    print(f"{'request':<18}{'count':>7}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}  statuses")
    for kind in ("GET manifest", "PUT manifest", "PUT deployment"):
        values = tally.latencies.get(kind, [])
        if not values:
            continue
        statuses = ", ".join(
            f"{status}: {count}"
            for (name, status), count in sorted(tally.statuses.items())
            if name == kind
        )
        print(
            f"{kind:<18}{len(values):>7}{len(values) / elapsed:>8.1f}"
            f"{percentile(values, 0.5):>9.1f}{percentile(values, 0.99):>9.1f}  {statuses}"
        )
    print(f"{'all':<18}{total:>7}{total / elapsed:>8.1f}")
    server_errors = sum(c for (kind, status), c in tally.statuses.items() if status >= 500)
    accepted = sum(len(w) for w in tally.writes.values())
    manifests = sum(1 for ws in tally.writes.values() for w in ws if w.kind == "manifest")
    print(
        f"accepted writes: {accepted} ({manifests} manifests, {accepted - manifests} "
        f"deployments); manifest writes given up after {MAX_RETRIES} 412s: {tally.gave_up}"
    )
    print(f"5xx answers: {server_errors}" + ("  (must be 0)" if server_errors else "  ok"))
    for failure in tally.failures[:10]:
        print(f"unexpected: {failure}")
    if problems:
        print("no lost update: FAILED")
        for problem in problems:
            print(f"  {problem}")
    else:
        print(
            f"no lost update: ok ({args.releases} releases each end in the state of their "
            "last accepted write; every accepted write has a revision of its own; every "
            "If-Match write came right after what it read)"
        )
    return 1 if problems or server_errors or tally.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
