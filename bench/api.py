"""Load benchmark of the REST API: wrk against gunicorn (2 workers) on PostgreSQL.

Run from the project root: ``make bench`` or ``python bench/api.py [--seconds N]``. Measures
the manifest endpoint of a 1,000-pin release and the release list (a page of 50 releases of
50 pins), each next to its floor: the same gunicorn serving a bare Django view that encodes a
JSON body of the same size (no database, no authentication). Prints requests/s and p99 of
each and the ratio of their requests/s (target >= 0.5x). A report, never a failing exit status.

The endpoint and its floor take turns, ``--rounds`` times (the order swapped each round), and
the median round of each is printed: on a machine that other work loads unevenly, a floor
measured seconds after its endpoint would say more about the load than about the endpoint.
Both run under ``config/gunicorn.py``, the production settings, with 2 workers.

The database is a scratch one: ``BENCH_DATABASE_URL`` (default: the local PostgreSQL as
``postgres``) gets a ``bench_<pid>`` database, dropped at the end. The cache is Redis, as in
production: ``BENCH_REDIS_URL`` (else ``REDIS_URL``, else the local server's database 0), under
a key prefix of the run's own, whose keys are deleted at the end. Needs ``wrk`` (Debian's
package) on PATH.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for entry in (str(ROOT), str(ROOT / "bench")):
    if entry not in sys.path:
        sys.path.insert(0, entry)

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
CACHE_PREFIX = "BENCH_API_CACHE_PREFIX"  # the run's own key prefix in Redis
TARGET = 0.5
FLOOR_BODIES = "BENCH_API_FLOOR_BODIES"  # a JSON file: {name: body} for the floor views


# --- what gunicorn serves -----------------------------------------------------------------------


def _build_application() -> Any:
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()
    from django.conf import settings
    from django.http import HttpRequest, HttpResponse
    from django.urls import include, path

    bodies: dict[str, Any] = json.loads(Path(os.environ[FLOOR_BODIES]).read_text())
    settings.CACHES["default"]["KEY_PREFIX"] = os.environ[CACHE_PREFIX]  # before any use

    def floor(request: HttpRequest, name: str) -> HttpResponse:
        # The floor: Django's request handling and a JSON encoding of the same data.
        return HttpResponse(json.dumps(bodies[name]), content_type="application/json")

    module = type(sys)("bench_api_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path("bench/floor/<str:name>", floor),
        path("", include(settings.ROOT_URLCONF)),
    ]
    sys.modules["bench_api_urls"] = module
    settings.ROOT_URLCONF = "bench_api_urls"
    return app


if FLOOR_BODIES in os.environ:
    # Loaded by gunicorn: the registry's WSGI application plus ``/bench/floor/<name>``, built
    # at import, in the master (config/gunicorn.py preloads it, as in production).
    application = _build_application()


# --- the run ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed(token_name: str) -> str:
    """A 1,000-pin release and 60 releases of 50 pins; returns a read token's key."""
    from django.core.management import call_command

    from bench.run import build_tree, to_yaml
    from releases.api.models import ApiToken
    from releases.importing import import_manifests
    from releases.manifests import parse_manifest

    call_command("migrate", verbosity=0)
    manifests = []
    big = build_tree(1000)
    big["version"] = "7.3.0"
    manifests.append(("v7.3.0.yaml", parse_manifest(to_yaml(big), source="v7.3.0.yaml")))
    for index in range(60):
        tree = build_tree(50, seed=index + 2)
        tree["version"] = f"6.{index}.0"
        source = f"v6.{index}.0.yaml"
        manifests.append((source, parse_manifest(to_yaml(tree), source=source)))
    import_manifests(manifests)
    _token, key = ApiToken.create_token(token_name, "read")
    return key


def wrk(url: str, seconds: int, headers: dict[str, str]) -> tuple[float, float]:
    """Requests/s and p99 latency (ms) of ``url``."""
    command = ["wrk", "-t2", "-c8", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        command[1:1] = ["-H", f"{name}: {value}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in output:
        raise SystemExit(f"wrk saw error responses from {url}:\n{output}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return rate, p99


def median(rounds: list[tuple[float, float]]) -> tuple[float, float]:
    """The median round by requests/s, and its p99."""
    return sorted(rounds)[len(rounds) // 2]


def fetch(url: str, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our own local server
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(100):
        if process.poll() is not None:
            raise SystemExit("gunicorn exited at start")
        try:
            urllib.request.urlopen(url, timeout=1).close()  # noqa: S310
            return
        except urllib.error.HTTPError:
            return  # answering (401 without a token is fine)
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not answer")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=3, help="wrk duration per round (3)")
    parser.add_argument("--rounds", type=int, default=3, help="turns of endpoint and floor (3)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/api.py: wrk is not installed (apt-get install wrk); skipped")
        return 0
    os.environ.setdefault("BENCH_DATABASE_URL", DEFAULT_SERVER)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DJANGO_DEBUG"] = "false"  # no query log, no debug pages: as in production
    os.environ["REGISTRY_API_THROTTLE_RATE"] = ""  # measure the API, not the throttle
    from bench.run import throwaway_database

    with throwaway_database() as where:
        import django

        django.setup()
        key = seed("bench")
        from django.db import connections

        connections.close_all()
        run(args, where, key)
    return 0


def run(args: argparse.Namespace, where: str, key: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Token {key}"}
    measures = {
        "manifest, 1,000 pins": ("/api/releases/7.3.0/manifest", "manifest"),
        "release list, 50 per page": ("/api/releases/", "list"),
    }
    handle, name = tempfile.mkstemp(prefix="bench-api-", suffix=".json")
    os.close(handle)
    bodies_file = Path(name)
    bodies_file.write_text("{}")
    redis_url = os.environ.get("BENCH_REDIS_URL") or os.environ.get("REDIS_URL") or DEFAULT_REDIS
    prefix = f"bench-api-{os.getpid()}"
    environment = {
        **os.environ,
        FLOOR_BODIES: str(bodies_file),
        "REDIS_URL": redis_url,  # the shared cache, as in production (GETs enqueue nothing)
        CACHE_PREFIX: prefix,
    }
    command = [
        sys.executable, "-m", "gunicorn", "--config", str(ROOT / "config" / "gunicorn.py"),
        "--workers", "2", "--bind", f"127.0.0.1:{port}", "--chdir", str(ROOT),
        "--pythonpath", str(ROOT / "bench"), "--log-level", "warning", "api:application",
    ]  # fmt: skip

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, env=environment)
        wait_until_up(f"{base}/healthz", process)
        return process

    def stop(process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    # First the API's answers, whose data the floor views then encode.
    server = start()
    try:
        bodies = {name: fetch(base + url, auth) for url, name in measures.values()}
    finally:
        stop(server)
    bodies_file.write_text(json.dumps(bodies))
    server = start()
    try:
        print(
            f"API under load: wrk -t2 -c8 -d{args.seconds}s x {args.rounds} rounds (median), "
            f"gunicorn 2 workers (config/gunicorn.py), {where}, Redis cache"
        )
        print(f"{'measure':<36}{'req/s':>9}{'p99 ms':>9}{'floor req/s':>13}{'floor p99':>11}"
              f"{'ratio':>8}  verdict")  # fmt: skip
        for label, (url, name) in measures.items():
            size = len(json.dumps(bodies[name]))
            wrk(base + url, 1, auth)  # warm both workers
            ours: list[tuple[float, float]] = []
            floors: list[tuple[float, float]] = []
            for turn in range(args.rounds):
                pair = [
                    (ours, base + url, auth),
                    (floors, f"{base}/bench/floor/{name}", {}),
                ]
                for results, where_to, headers in pair if turn % 2 == 0 else pair[::-1]:
                    results.append(wrk(where_to, args.seconds, headers))
            rate, p99 = median(ours)
            floor_rate, floor_p99 = median(floors)
            ratio = rate / floor_rate
            verdict = "ok" if ratio >= TARGET else f"below {TARGET}x"
            print(
                f"{label + f' ({size // 1024} KiB)':<36}{rate:>9.0f}{p99:>9.1f}"
                f"{floor_rate:>13.0f}{floor_p99:>11.1f}{ratio:>7.2f}x  {verdict}"
            )
    finally:
        stop(server)
        bodies_file.unlink(missing_ok=True)
        import redis

        leftovers = redis.Redis.from_url(redis_url)
        for key in leftovers.scan_iter(match=f"{prefix}:*"):
            leftovers.delete(key)


if __name__ == "__main__":
    raise SystemExit(main())
