"""Real git repositories served on 127.0.0.1, for tests (and the bench) that talk to git hosts.

- :class:`BareRepository` builds a bare repository with plumbing commands: commits,
  lightweight and annotated tags, tags of tags, moved tags, hundreds of tags in one call.
- :class:`GitDaemon` serves a folder of repositories over ``git://`` (``git daemon``).
- :class:`GitHttpServer` serves the same folder over ``http://`` through ``git http-backend``
  (smart HTTP, protocol v2), records each request (path, ``Authorization`` header, and on demand
  the command lines of every process alive at that moment) and can answer chosen paths with a
  redirect.
- :class:`SilentServer` accepts connections and never answers.
- :class:`PackageIndexServer` answers like PyPI's JSON API (project and release endpoints).
- :class:`RecordedGit` is a ``git`` wrapper that logs every invocation (proof of what ran, or
  that nothing did) and builds a policy allowing 127.0.0.1 over git:// and http://.

Every server listens on a free port of 127.0.0.1 and is a context manager. The fixtures at the
end are imported by the conftest files that need them: ``repository_folder`` (``create(name)``
makes a fresh bare repository), ``git_daemon`` and ``git_http`` (session servers; ``git_http``
resets its request log, redirects and process snapshots per test), ``silent_server``,
``package_index`` and ``recorded_git`` (per test).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from registry.git.policy import GitPolicy

GIT = shutil.which("git") or "git"
# Fixed identity and dates: the same script builds the same SHAs, and no user config leaks in.
BUILD_ENVIRONMENT = {
    "PATH": os.environ.get("PATH", os.defpath),
    "HOME": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Zoë Tester",
    "GIT_AUTHOR_EMAIL": "zoe@example.org",
    "GIT_COMMITTER_NAME": "Zoë Tester",
    "GIT_COMMITTER_EMAIL": "zoe@example.org",
    "GIT_AUTHOR_DATE": "2025-01-15T10:00:00Z",
    "GIT_COMMITTER_DATE": "2025-01-15T10:00:00Z",
    "LC_ALL": "C",
    # Serve partial clones (``--filter=blob:none``) as GitHub and GitLab do.
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "uploadpack.allowFilter",
    "GIT_CONFIG_VALUE_0": "true",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class BareRepository:
    """A bare repository under construction; SHAs returned are full 40-hex strings."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--bare", "--quiet", "--initial-branch=main")
        self._counter = 0
        self.head: str | None = None

    def git(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            [GIT, "--git-dir", str(self.path), *args],
            env=BUILD_ENVIRONMENT,
            input=input,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()

    def commit(self, message: str | None = None, *, parent: str | None = None) -> str:
        """A new commit on ``parent`` (default: the branch head), moving ``main`` to it."""
        self._counter += 1
        message = message or f"change {self._counter}"
        blob = self.git("hash-object", "-w", "--stdin", input=f"{message}\n")
        tree = self.git("mktree", input=f"100644 blob {blob}\tREADME\n")
        parent = parent if parent is not None else self.head
        args = ["commit-tree", tree, "-m", message]
        if parent:
            args += ["-p", parent]
        sha = self.git(*args)
        self.git("update-ref", "refs/heads/main", sha)
        self.head = sha
        return sha

    def commits(self, count: int) -> list[str]:
        """``count`` new commits in a row on ``main``, from one ``git fast-import``."""
        stream = []
        for mark in range(1, count + 1):
            self._counter += 1
            message = f"change {self._counter}".encode()
            stream.append(
                b"commit refs/heads/main\nmark :%d\n" % mark
                + "committer Zoë Tester <zoe@example.org> 1736935200 +0000\n".encode()
                + b"data %d\n%s\n" % (len(message), message)
            )
            if mark == 1 and self.head:
                stream.append(f"from {self.head}\n".encode())
            stream.append(b"M 100644 inline README\ndata %d\n%s\n" % (len(message), message))
        marks = self.path / "fast-import.marks"
        subprocess.run(
            [GIT, "--git-dir", str(self.path), "fast-import", "--quiet", f"--export-marks={marks}"],
            env=BUILD_ENVIRONMENT,
            input=b"".join(stream),
            capture_output=True,
            check=True,
        )
        by_mark = dict(line.split() for line in marks.read_text().splitlines())
        marks.unlink()
        shas = [by_mark[f":{mark}"] for mark in range(1, count + 1)]
        if shas:
            self.head = shas[-1]
        return shas

    def tag(self, name: str, target: str, *, message: str | None = None) -> str:
        """Tag ``target`` (a SHA or a tag name); annotated when ``message`` is given. Returns
        the SHA the ref holds: the tag object's for an annotated tag, else ``target``'s."""
        if message is None:
            self.git("update-ref", f"refs/tags/{name}", self.git("rev-parse", target))
        else:
            self.git("tag", "-a", "-f", name, target, "-m", message)
        return self.git("rev-parse", f"refs/tags/{name}")

    def move_tag(self, name: str, target: str) -> str:
        """Point an existing lightweight tag at another commit (as a force-push would)."""
        self.git("update-ref", f"refs/tags/{name}", target)
        return target

    def many_tags(self, tags: Mapping[str, str]) -> None:
        """Lightweight tags name -> commit, in one ``update-ref --stdin``."""
        lines = "".join(f"create refs/tags/{name} {sha}\n" for name, sha in tags.items())
        self.git("update-ref", "--stdin", input=lines)

    def peel(self, ref: str) -> str:
        return self.git("rev-parse", f"{ref}^{{commit}}")


class RepositoryFolder:
    """A folder of bare repositories; each test gets its own prefix so tests never share one."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def create(self, name: str, *, prefix: str | None = None) -> tuple[BareRepository, str]:
        """A new repository for ``name`` (``org/name`` kept as folders); returns it and its
        path relative to the served root, e.g. ``t3f2.../org/name.git``."""
        prefix = prefix or uuid.uuid4().hex[:12]
        relative = f"{prefix}/{name}.git"
        return BareRepository(self.root / relative), relative


class GitDaemon:
    """``git daemon`` serving ``root`` on ``git://127.0.0.1:<port>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, relative: str) -> str:
        return f"git://127.0.0.1:{self.port}/{relative}"

    def __enter__(self) -> GitDaemon:
        self._process = subprocess.Popen(
            [
                GIT,
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--informative-errors",
                f"--base-path={self.root}",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                str(self.root),
            ],
            env=BUILD_ENVIRONMENT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


@dataclass
class RecordedRequest:
    method: str
    path: str
    authorization: str | None
    # Command lines of every process alive while this request was served (when enabled).
    command_lines: list[str] = field(default_factory=list)


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


class _ServedThread:
    """Runs a ThreadingHTTPServer on 127.0.0.1:<free port> in a thread."""

    handler: type[BaseHTTPRequestHandler]

    def __init__(self) -> None:
        self.server = _HttpServer(("127.0.0.1", 0), self.handler)
        self.server.owner = self  # type: ignore[attr-defined]
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class _GitHttpHandler(BaseHTTPRequestHandler):
    server_version = "test-git-http"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        owner: GitHttpServer = self.server.owner  # type: ignore[attr-defined]
        path, _, query = self.path.partition("?")
        record = RecordedRequest(self.command, path, self.headers.get("Authorization"))
        if owner.snapshot_processes:
            record.command_lines = process_command_lines()
        owner.requests.append(record)
        for prefix, target in owner.redirects.items():
            if path.startswith(prefix):
                self.send_response(301)
                self.send_header("Location", target + path[len(prefix) :] + "?" + query)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = self._body()
        environment = {
            **BUILD_ENVIRONMENT,
            "GIT_PROJECT_ROOT": str(owner.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        result = subprocess.run(
            [GIT, "http-backend"], input=body, env=environment, capture_output=True, check=False
        )
        separator = b"\r\n\r\n" if b"\r\n\r\n" in result.stdout else b"\n\n"
        head, _, payload = result.stdout.partition(separator)
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key.strip(), value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))


class GitHttpServer(_ServedThread):
    """Smart HTTP for the repositories under ``root`` at ``http://127.0.0.1:<port>/``."""

    handler = _GitHttpHandler

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[RecordedRequest] = []
        self.redirects: dict[str, str] = {}
        self.snapshot_processes = False
        super().__init__()

    def url(self, relative: str, *, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{relative}"


def process_command_lines() -> list[str]:
    """The command line of every process this user can see, as text."""
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            lines.append(raw.replace(b"\0", b" ").decode("utf-8", "replace"))
    return lines


class SilentServer:
    """Accepts every connection on 127.0.0.1:<port> and never sends a byte."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port = int(self._socket.getsockname()[1])
        self._accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        self._socket.settimeout(0.1)
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._accepted.append(connection)

    @property
    def connections(self) -> int:
        return len(self._accepted)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._accepted:
            connection.close()
        self._socket.close()


class _PackageIndexHandler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        owner: PackageIndexServer = self.server.owner  # type: ignore[attr-defined]
        owner.requests.append(self.path)
        match = re.fullmatch(r"/(?:pypi/)?([^/]+)/(?:([^/]+)/)?json", self.path.split("?")[0])
        if owner.failing:
            self._send(503, {"message": "unavailable"})
            return
        if match is None or match[1] not in owner.projects:
            self._send(404, {"message": "Not Found"})
            return
        project, version = match[1], match[2]
        releases = owner.projects[project]
        if version is not None:
            if version not in releases:
                self._send(404, {"message": "Not Found"})
                return
            self._send(200, owner.release_document(project, version))
            return
        latest = list(releases)[-1] if releases else None
        document = owner.release_document(project, latest) if latest else {"info": {}, "urls": []}
        document["releases"] = {
            number: owner.files(project, number, yanked) for number, yanked in releases.items()
        }
        self._send(200, document)

    def _send(self, status: int, document: dict[str, Any]) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class PackageIndexServer(_ServedThread):
    """PyPI's JSON API for ``projects``: canonical project name -> {version: yanked}.

    ``GET /<project>/json`` and ``GET /<project>/<version>/json`` answer as pypi.org does (the
    fields the registry reads: ``info.version``, ``info.yanked``, ``urls[].yanked``,
    ``releases``); anything else is a 404. ``root`` is the API root to configure.
    """

    handler = _PackageIndexHandler

    def __init__(self, projects: Mapping[str, Mapping[str, bool]] | None = None) -> None:
        self.projects: dict[str, dict[str, bool]] = {
            name: dict(versions) for name, versions in (projects or {}).items()
        }
        self.requests: list[str] = []
        self.failing = False
        super().__init__()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}/pypi"

    def files(self, project: str, version: str, yanked: bool) -> list[dict[str, Any]]:
        return [
            {
                "filename": f"{project}-{version}.tar.gz",
                "packagetype": "sdist",
                "yanked": yanked,
                "yanked_reason": "broken build" if yanked else None,
            }
        ]

    def release_document(self, project: str, version: str) -> dict[str, Any]:
        yanked = self.projects[project][version]
        return {
            "info": {
                "name": project,
                "version": version,
                "yanked": yanked,
                "yanked_reason": "broken build" if yanked else None,
            },
            "urls": self.files(project, version, yanked),
        }


class RecordedGit:
    """A ``git`` that logs each invocation's arguments to a file, then runs the real git.

    ``policy()`` builds a policy that runs it and may contact 127.0.0.1 over git:// and
    http://; ``calls()`` are the argument lines so far (proof of what ran, or that nothing did).
    """

    def __init__(self, folder: Path) -> None:
        self.log = folder / "git-invocations.log"
        self.path = folder / "git"
        self.path.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{self.log}"\nexec "{GIT}" "$@"\n')
        self.path.chmod(0o755)

    def calls(self, subcommand: str | None = None) -> list[str]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        if subcommand is None:
            return lines
        return [line for line in lines if line.split(" ", 1)[0] == subcommand]

    def policy(self, **options: Any) -> GitPolicy:
        settings: dict[str, Any] = {
            "schemes": ["git", "http"],
            "hosts": ["127.0.0.1"],
            "timeout": 10,
            "git": str(self.path),
        }
        settings.update(options)
        return GitPolicy.build(**settings)


# Fixtures: a conftest imports these names to make them available to its tests.


@pytest.fixture(scope="session")
def repository_folder(tmp_path_factory: pytest.TempPathFactory) -> RepositoryFolder:
    """The folder every served repository lives in; ``create(name)`` makes a fresh one."""
    return RepositoryFolder(tmp_path_factory.mktemp("served-repositories"))


@pytest.fixture(scope="session")
def git_daemon(repository_folder: RepositoryFolder) -> Iterator[GitDaemon]:
    with GitDaemon(repository_folder.root) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def _git_http_session(repository_folder: RepositoryFolder) -> Iterator[GitHttpServer]:
    with GitHttpServer(repository_folder.root) as server:
        yield server


@pytest.fixture
def git_http(_git_http_session: GitHttpServer) -> Iterator[GitHttpServer]:
    """The smart-HTTP server with this test's own request log, redirects and snapshots."""
    server = _git_http_session
    server.requests.clear()
    server.redirects.clear()
    server.snapshot_processes = False
    yield server
    server.redirects.clear()
    server.snapshot_processes = False


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server


@pytest.fixture
def package_index() -> Iterator[PackageIndexServer]:
    """An empty PyPI-compatible index; tests fill ``projects``."""
    with PackageIndexServer() as server:
        yield server


@pytest.fixture
def recorded_git(tmp_path: Path) -> RecordedGit:
    """A recording ``git`` for this test (see :class:`RecordedGit`)."""
    folder = tmp_path / "recorded-git"
    folder.mkdir()
    return RecordedGit(folder)
