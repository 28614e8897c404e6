"""The production stack in processes of its own, run the way a platform runs the Procfile.

- :func:`procfile` reads the Procfile; :class:`Stack` runs its lines with ``sh -c`` (the
  virtualenv's ``bin`` first on ``PATH``, ``PORT`` set for ``web``) under
  ``config.settings.production``, each process in a session of its own with its output in a log
  file, so that a test can kill one (SIGKILL of the whole process group) and start another.
- :class:`OwnRedis` and :class:`OwnPostgres` are servers of the test's own on free ports,
  stopped and started at will (the shared ones are never touched); :func:`fresh_database`
  makes a new database on a PostgreSQL server.
- :class:`Web` speaks to one gunicorn as a client behind the platform's TLS proxy would
  (``X-Forwarded-Proto: https``): API calls with a token, and an admin session.

Readiness is polled (``/healthz``, the worker's "ready." line), never slept for.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
T = TypeVar("T")


def procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    """The Procfile's process types and their command lines."""
    lines = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            lines[name.strip()] = command.strip()
    return lines


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(
    condition: Callable[[], T | None],
    timeout: float,
    what: str,
    logs: Callable[[], str] = str,
    watch: Iterable[Process] = (),
) -> T:
    """Poll ``condition`` until it returns something true; fail naming ``what`` (with the
    processes' logs) after ``timeout`` seconds, or at once when a ``watch``ed process ended."""
    deadline = time.monotonic() + timeout
    while True:
        ended = [process.name for process in watch if not process.alive()]
        if ended:
            raise AssertionError(f"{', '.join(ended)} ended while waiting for {what}\n{logs()}")
        try:
            value = condition()
        except (OSError, requests.RequestException, psycopg.Error, redis.RedisError):
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs()}")
        time.sleep(0.2)


# --- servers of the test's own ------------------------------------------------------------


class OwnRedis:
    """A redis-server on a free port of 127.0.0.1, without persistence (a restart empties it,
    as a failover to a fresh replica would)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        wait_until(client.ping, 10, f"redis-server on port {self.port}")
        client.close()

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


class OwnPostgres:
    """A PostgreSQL cluster of its own (initdb) on a free port, trust authentication. As root
    (CI), the cluster belongs to the ``postgres`` user, which PostgreSQL requires."""

    def __init__(self) -> None:
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        found = shutil.which("pg_ctl") or (str(binaries[-1]) if binaries else None)
        if found is None:
            raise FileNotFoundError("pg_ctl (PostgreSQL's server binaries) not found")
        self.bin = Path(found).parent
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="rr-stack-pg-"))
        self.data = self.folder / "data"
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120, cwd="/")

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        # "fast": connections are cut, as a restart or a failover cuts them.
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def fresh_database(server_url: str, name: str) -> str:
    """A new, empty database ``name`` on the server of ``server_url``; its URL."""
    parts = urlsplit(server_url)
    with psycopg.connect(
        urlunsplit(parts._replace(path="/postgres")), autocommit=True, connect_timeout=5
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def drop_database(url: str) -> None:
    parts = urlsplit(url)
    with psycopg.connect(
        urlunsplit(parts._replace(path="/postgres")), autocommit=True, connect_timeout=5
    ) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


# --- the Procfile's processes ---------------------------------------------------------------


class Process:
    """One line of the Procfile, running; its output in ``log``."""

    def __init__(self, name: str, command: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.command = command
        self.log = log
        with log.open("ab") as output:
            self.popen = subprocess.Popen(
                ["sh", "-c", command],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group (a worker's pool children too): nothing cleans up."""
        if self.alive():
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(30)

    def stop(self) -> None:
        """SIGTERM (what a platform sends first), then SIGKILL."""
        if not self.alive():
            return
        os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(20)
        except subprocess.TimeoutExpired:
            self.kill()


class Stack:
    """The Procfile's processes on one environment; ``start`` adds one, ``stop_all`` ends
    them."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = {
            **env,
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "PYTHONUNBUFFERED": "1",
        }
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.lines = procfile()
        self.processes: list[Process] = []

    def logs(self) -> str:
        """The end of every process's output (without the access log's health checks)."""
        return "\n".join(
            f"--- {process.name} ({'running' if process.alive() else 'ended'}) ---\n"
            + "\n".join(
                line for line in process.output().splitlines() if "GET /healthz" not in line
            )[-6000:]
            for process in self.processes
        )

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [str(BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"manage.py {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def release(self) -> None:
        """The Procfile's ``release`` line (migrate), then the build step the README names
        (collectstatic) when the release line did not collect static files itself."""
        done = subprocess.run(
            ["sh", "-c", self.lines["release"]],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"release: {done.stdout}{done.stderr}"
        if not (ROOT / "staticfiles" / "staticfiles.json").exists():
            self.manage("collectstatic", "--noinput")

    def start(self, kind: str, name: str, *, extra: str = "", **env: str) -> Process:
        command = self.lines[kind] + (f" {extra}" if extra else "")
        process = Process(name, command, {**self.env, **env}, self.folder / f"{name}.log")
        self.processes.append(process)
        return process

    def start_web(self, name: str = "web", **env: str) -> Web:
        port = free_port()
        process = self.start("web", name, PORT=str(port), **env)
        web = Web(port, process)
        wait_until(web.healthy, 60, f"{name} to answer /healthz", self.logs, [process])
        return web

    def start_worker(self, name: str = "worker", **env: str) -> Process:
        # A node name of its own: two workers on one machine are two Celery nodes.
        process = self.start("worker", name, extra=f"--hostname={name}@%h", **env)
        wait_until(
            lambda: re.search(rf"{name}@\S+ ready\.", process.output()),
            60,
            f"{name} to be ready",
            self.logs,
            [process],
        )
        return process

    def start_beat(self, **env: str) -> Process:
        process = self.start("beat", "beat", **env)
        wait_until(
            lambda: "beat: Starting..." in process.output(),
            60,
            "beat to start",
            self.logs,
            [process],
        )
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()


class Web:
    """A client of one gunicorn, as the platform's proxy forwards it (HTTPS ended before)."""

    def __init__(self, port: int, process: Process) -> None:
        self.port = port
        self.process = process
        self.base = f"http://127.0.0.1:{port}"
        self.token: str | None = None
        self.session = requests.Session()
        self.session.headers["X-Forwarded-Proto"] = "https"

    def healthy(self) -> bool:
        return requests.get(f"{self.base}/healthz", timeout=5).status_code == 200

    def health(self) -> tuple[int, dict[str, Any]]:
        answer = requests.get(f"{self.base}/healthz", timeout=10)
        return answer.status_code, answer.json()

    def api(self, method: str, path: str, **options: Any) -> requests.Response:
        headers = {"Authorization": f"Token {self.token}", "X-Forwarded-Proto": "https"}
        headers.update(options.pop("headers", {}))
        return requests.request(
            method, f"{self.base}/api/{path}", headers=headers, timeout=60, **options
        )

    def _keep_cookies(self, answer: requests.Response) -> None:
        # The session and CSRF cookies are Secure (__Secure-...): a client behind TLS sends
        # them back; this one speaks plain HTTP to gunicorn, so it keeps them as plain ones.
        for cookie in answer.cookies:
            if cookie.value:
                self.session.cookies.set(cookie.name, cookie.value)

    def log_in(self, username: str, password: str) -> None:
        page = self.session.get(f"{self.base}/admin/login/", timeout=30)
        self._keep_cookies(page)
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert match, page.text[:2000]
        answer = self.session.post(
            f"{self.base}/admin/login/?next=/admin/",
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": match.group(1),
            },
            headers={"Origin": f"https://127.0.0.1:{self.port}"},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 302, answer.text[:2000]
        self._keep_cookies(answer)

    def page(self, path: str) -> str:
        answer = self.session.get(f"{self.base}{path}", timeout=30, allow_redirects=False)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:2000])
        return answer.text


def all_output(processes: Iterable[Process]) -> str:
    return "\n".join(process.output() for process in processes)
