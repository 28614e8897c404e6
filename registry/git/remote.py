"""List a remote repository's tags with one hardened ``git ls-remote --tags``.

URLs come from manifests, so every call: checks the URL against the policy before anything
runs (:func:`registry.git.urls.checked_url`); runs the real git binary with an argument list,
``--`` before the URL, in an empty directory with an empty ``HOME`` and a clean environment
(no system or global config, no ``.netrc``, no inherited ``GIT_*``); allows exactly the URL's
protocol (``GIT_ALLOW_PROTOCOL``); never prompts; follows no redirect; passes credentials as an
``http.<origin>.extraHeader`` through ``GIT_CONFIG_*`` only for the URL's own origin; and kills
git's whole process group when the policy's timeout passes.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from .errors import GitRemoteError, RemoteTimeout, RemoteUnreachable
from .policy import GitPolicy
from .urls import RemoteUrl, checked_url

logger = logging.getLogger(__name__)

# Passed through from the service's environment: how to find git, reach the network through a
# proxy and trust certificates. Everything else (GIT_DIR, GIT_TRACE, GIT_SSH_COMMAND, ...) is
# dropped so the caller's environment cannot change what git does or prints.
PASSED_ENVIRONMENT = (
    "PATH",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "all_proxy",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
)
# Credentials travel over https only; plain http is allowed for a server on this machine.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})
_SHA_RE = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_PEELED = "^{}"
_TAG_PREFIX = "refs/tags/"
# git's own words for a redirect it did not follow.
_REDIRECT_RE = re.compile(r"returned error: 30[12378]|redirect", re.IGNORECASE)
_MESSAGE_LIMIT = 300

_home_lock = threading.Lock()
_home: Path | None = None


@dataclass(frozen=True)
class RemoteTag:
    """A tag on the remote: ``commit_sha`` is what it finally points at (annotated tags and
    tags of tags peeled); ``tag_sha`` the annotated tag object's own SHA, ``None`` for a
    lightweight tag."""

    name: str
    commit_sha: str
    tag_sha: str | None = None

    @property
    def annotated(self) -> bool:
        return self.tag_sha is not None


@dataclass(frozen=True)
class RemoteTags:
    """Every tag of one remote URL, by name."""

    url: str
    tags: Mapping[str, RemoteTag]

    def get(self, name: str) -> RemoteTag | None:
        return self.tags.get(name)

    def __len__(self) -> int:
        return len(self.tags)


def list_tags(url: str, policy: GitPolicy) -> RemoteTags:
    """The tags of the repository at ``url``, from one ``git ls-remote --tags``.

    Raises :class:`~registry.git.errors.RemoteRefused` (nothing run), :class:`RemoteTimeout` or
    :class:`RemoteUnreachable`; their messages are safe to show.
    """
    remote = checked_url(url, policy)
    output = run_git(["ls-remote", "--tags", "--", remote.url], policy=policy, remote=remote)
    return RemoteTags(url=remote.url, tags=parse_ls_remote(output))


def list_remotes(
    urls: Iterable[str], policy: GitPolicy, *, concurrency: int = 8
) -> dict[str, RemoteTags | GitRemoteError]:
    """One :func:`list_tags` per distinct URL, at most ``concurrency`` at a time; each URL maps
    to its tags or to the error that stopped it (one bad remote never hides the others)."""
    distinct = list(dict.fromkeys(urls))

    def one(url: str) -> RemoteTags | GitRemoteError:
        try:
            return list_tags(url, policy)
        except GitRemoteError as error:
            return error

    if not distinct:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(distinct)))) as pool:
        return dict(zip(distinct, pool.map(one, distinct), strict=True))


def iter_remotes(
    urls: Iterable[str], policy: GitPolicy, *, concurrency: int = 8
) -> Iterator[tuple[str, RemoteTags | GitRemoteError]]:
    """:func:`list_remotes` answer by answer, as each listing ends. The listings start at
    once, when this is called (a caller can read or compute meanwhile, and judge the pins of
    one remote while the others are still being listed)."""
    distinct = list(dict.fromkeys(urls))

    def one(url: str) -> tuple[str, RemoteTags | GitRemoteError]:
        try:
            return url, list_tags(url, policy)
        except GitRemoteError as error:
            return url, error

    if not distinct:
        return iter(())
    pool = ThreadPoolExecutor(
        max_workers=max(1, min(concurrency, len(distinct))), thread_name_prefix="ls-remote"
    )
    futures = [pool.submit(one, url) for url in distinct]
    pool.shutdown(wait=False)  # the threads end with their listings

    def answers() -> Iterator[tuple[str, RemoteTags | GitRemoteError]]:
        for done in as_completed(futures):
            yield done.result()

    return answers()


def parse_ls_remote(output: str) -> dict[str, RemoteTag]:
    """Tags from ``ls-remote --tags`` output: ``<sha>\\trefs/tags/<name>`` lines, each
    annotated tag followed by a ``<name>^{}`` line with the object it peels to."""
    direct: dict[str, str] = {}
    peeled: dict[str, str] = {}
    for line in output.splitlines():
        sha, _, ref = line.partition("\t")
        if not _SHA_RE.fullmatch(sha) or not ref.startswith(_TAG_PREFIX):
            continue
        name = ref[len(_TAG_PREFIX) :]
        if name.endswith(_PEELED):
            peeled[name[: -len(_PEELED)]] = sha
        elif name:
            direct[name] = sha
    return {
        name: RemoteTag(name, peeled[name], sha) if name in peeled else RemoteTag(name, sha)
        for name, sha in direct.items()
    }


def run_git(
    args: Sequence[str],
    *,
    policy: GitPolicy,
    remote: RemoteUrl,
    cwd: Path | None = None,
    extra_config: Mapping[str, str] | None = None,
) -> str:
    """Run ``git <args>`` against ``remote`` (already checked) under the hardened environment,
    within the policy's timeout; its standard output, or a typed :class:`GitRemoteError`."""
    returncode, stdout, reason = run_git_status(
        args, policy=policy, remote=remote, cwd=cwd, extra_config=extra_config
    )
    if returncode != 0:
        logger.info("git %s failed (%s): %s", args[0], remote.url, reason)
        if _REDIRECT_RE.search(reason):
            raise RemoteUnreachable(
                remote.url,
                f"the server answered with a redirect, which is not followed ({reason}); "
                "set the repository's URL to where it lives now",
            )
        raise RemoteUnreachable(remote.url, reason)
    return stdout


def run_git_status(
    args: Sequence[str],
    *,
    policy: GitPolicy,
    remote: RemoteUrl,
    cwd: Path | None = None,
    extra_config: Mapping[str, str] | None = None,
    offline: bool = False,
) -> tuple[int, str, str]:
    """Like :func:`run_git` but for commands whose exit status is an answer
    (``merge-base --is-ancestor``): ``(status, stdout, safe error line)``; only a timeout
    raises. ``offline``: git may contact no remote at all (a partial clone would otherwise
    fetch a missing object by itself, one object at a time and outside our records)."""
    git = policy.git_path()
    home = empty_home()
    environment = git_environment(policy, remote, home, extra_config=extra_config)
    if offline:
        environment["GIT_ALLOW_PROTOCOL"] = ""
    logger.debug("git %s (%s)", args[0], remote.url)
    process = subprocess.Popen(
        [git, *args],
        cwd=cwd or home,
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Its own process group, so the timeout also kills git-remote-http and friends.
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=policy.timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        process.communicate()
        logger.info("git %s timed out after %gs (%s)", args[0], policy.timeout, remote.url)
        raise RemoteTimeout(
            remote.url, f"no answer within {policy.timeout:g} seconds (REGISTRY_GIT_TIMEOUT)"
        ) from None
    except BaseException:
        _kill_group(process)
        process.communicate()
        raise
    reason = ""
    if process.returncode != 0:
        reason = _reason(stderr.decode("utf-8", "replace"), policy)
        logger.debug("git %s exited %d (%s): %s", args[0], process.returncode, remote.url, reason)
    return process.returncode, stdout.decode("utf-8", "replace"), reason


def git_environment(
    policy: GitPolicy,
    remote: RemoteUrl,
    home: Path,
    *,
    extra_config: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment git runs with (see the module docstring for why each part)."""
    environment = {key: os.environ[key] for key in PASSED_ENVIRONMENT if key in os.environ}
    environment.setdefault("PATH", os.defpath)
    environment.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "GIT_CEILING_DIRECTORIES": str(home.parent),
            "LC_ALL": "C",
            "LANG": "C",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": remote.scheme,
            "GIT_PROTOCOL_FROM_USER": "0",
        }
    )
    config = {
        "http.followRedirects": "false",
        "credential.helper": "",
        "core.hooksPath": os.devnull,
        "protocol.version": "2",
        **(extra_config or {}),
    }
    authorization = policy.credentials.authorization(remote.host)
    if authorization is not None and (
        remote.scheme == "https" or (remote.scheme == "http" and remote.host in LOOPBACK_HOSTS)
    ):
        config[f"http.{remote.origin}.extraHeader"] = f"Authorization: {authorization}"
    environment["GIT_CONFIG_COUNT"] = str(len(config))
    for number, (key, value) in enumerate(config.items()):
        environment[f"GIT_CONFIG_KEY_{number}"] = key
        environment[f"GIT_CONFIG_VALUE_{number}"] = value
    return environment


def empty_home() -> Path:
    """A private empty directory, one per process, used as git's ``HOME`` and working
    directory: no ``.gitconfig``, ``.netrc`` or enclosing repository can reach git."""
    global _home
    with _home_lock:
        if _home is None or not _home.is_dir():
            parent = Path(tempfile.mkdtemp(prefix="registry-git-"))
            # Removed when the process ends normally (a command, a test run, a server).
            atexit.register(shutil.rmtree, parent, ignore_errors=True)
            _home = parent / "home"
            _home.mkdir(mode=0o700)
        return _home


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # Only called before the process is reaped, so its pid (the group's id) cannot have been
    # reused by an unrelated process.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _reason(stderr: str, policy: GitPolicy) -> str:
    """git's last meaningful error line, without secrets or control characters, short."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    fatal = [line for line in lines if line.lower().startswith(("fatal:", "error:"))]
    line = (fatal or lines or ["git failed without a message"])[-1]
    for prefix in ("fatal: ", "error: "):
        if line.lower().startswith(prefix):
            line = line[len(prefix) :]
    line = policy.credentials.redact(line)
    line = "".join(ch if ch.isprintable() else "?" for ch in line)
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 1] + "…"


__all__ = [
    "RemoteTag",
    "RemoteTags",
    "git_environment",
    "list_remotes",
    "list_tags",
    "parse_ls_remote",
    "run_git",
    "run_git_status",
]
