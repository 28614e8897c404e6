"""The git remote client against real repositories served by git daemon and git http-backend."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from registry.git.errors import RemoteTimeout, RemoteUnreachable
from registry.git.remote import RemoteTag, list_remotes, list_tags
from tests.gitserver import (
    GitDaemon,
    GitHttpServer,
    RecordedGit,
    RepositoryFolder,
    SilentServer,
    free_port,
    process_command_lines,
)

pytestmark = pytest.mark.git


@pytest.fixture(params=["git", "http"])
def served(request, git_daemon: GitDaemon, git_http: GitHttpServer):
    """Each test once over git:// (git daemon) and once over http:// (git http-backend)."""
    return git_daemon if request.param == "git" else git_http


def test_tags_map_to_commits_with_annotated_tags_and_tags_of_tags_peeled(
    served, repository_folder: RepositoryFolder, recorded_git: RecordedGit
) -> None:
    repo, relative = repository_folder.create("pytroll/fogpy")
    first, second, third = repo.commits(3)
    repo.tag("v2.6.0", first)
    annotated = repo.tag("v2.6.1", second, message="Release 2.6.1")
    outer = repo.tag("v2.6.1-signed", "v2.6.1", message="a tag of the tag v2.6.1")
    unicode_tag = repo.tag("release/été-2025", third, message="Été")

    tags = list_tags(served.url(relative), recorded_git.policy())

    assert dict(tags.tags) == {
        "v2.6.0": RemoteTag("v2.6.0", first, None),
        "v2.6.1": RemoteTag("v2.6.1", second, annotated),
        "v2.6.1-signed": RemoteTag("v2.6.1-signed", second, outer),
        "release/été-2025": RemoteTag("release/été-2025", third, unicode_tag),
    }
    assert annotated != second and outer not in (annotated, second)
    assert len(recorded_git.calls("ls-remote")) == 1


def test_a_moved_tag_is_seen_at_its_new_commit(
    served, repository_folder: RepositoryFolder, recorded_git: RecordedGit
) -> None:
    repo, relative = repository_folder.create("org/moving")
    old, new = repo.commits(2)
    repo.tag("v1.0.0", old)
    policy = recorded_git.policy()
    assert list_tags(served.url(relative), policy).tags["v1.0.0"].commit_sha == old

    repo.move_tag("v1.0.0", new)

    assert list_tags(served.url(relative), policy).tags["v1.0.0"].commit_sha == new


def test_hundreds_of_tags_come_from_one_ls_remote(
    served, repository_folder: RepositoryFolder, recorded_git: RecordedGit
) -> None:
    repo, relative = repository_folder.create("openstack/nova")
    commits = repo.commits(20)
    wanted = {
        f"v{major}.{minor}.0": commits[minor % 20] for major in range(25) for minor in range(20)
    }
    repo.many_tags(wanted)

    tags = list_tags(served.url(relative), recorded_git.policy())

    assert {name: tag.commit_sha for name, tag in tags.tags.items()} == wanted
    assert len(tags) == 500
    assert recorded_git.calls() == [f"ls-remote --tags -- {served.url(relative)}"]


def test_list_remotes_asks_each_distinct_url_once_and_keeps_failures_apart(
    git_daemon: GitDaemon, repository_folder: RepositoryFolder, recorded_git: RecordedGit
) -> None:
    urls = []
    for number in range(6):
        repo, relative = repository_folder.create(f"org/name-{number}")
        repo.tag("v1", repo.commit())
        urls.append(git_daemon.url(relative))
    missing = git_daemon.url("nowhere/org/absent.git")

    answers = list_remotes([*urls, *urls, missing, urls[0]], recorded_git.policy(), concurrency=3)

    assert list(answers) == [*urls, missing]
    assert all(len(answers[url]) == 1 for url in urls)  # type: ignore[arg-type]
    assert isinstance(answers[missing], RemoteUnreachable)
    assert len(recorded_git.calls("ls-remote")) == 7


def test_a_repository_that_does_not_exist_is_unreachable_with_git_s_reason(
    served, recorded_git: RecordedGit
) -> None:
    url = served.url("nobody/org/absent.git")

    with pytest.raises(RemoteUnreachable) as raised:
        list_tags(url, recorded_git.policy())

    assert raised.value.kind == "unreachable"
    assert str(raised.value).startswith(f"{url}: ")
    assert raised.value.reason


def test_a_closed_port_is_unreachable(recorded_git: RecordedGit) -> None:
    url = f"git://127.0.0.1:{free_port()}/org/name.git"

    with pytest.raises(RemoteUnreachable) as raised:
        list_tags(url, recorded_git.policy())

    assert "unable to connect" in raised.value.reason or "refused" in raised.value.reason


@pytest.mark.parametrize("scheme", ["git", "http"])
def test_a_server_that_never_answers_is_abandoned_after_the_timeout(
    scheme: str, silent_server: SilentServer, recorded_git: RecordedGit
) -> None:
    url = f"{scheme}://127.0.0.1:{silent_server.port}/org/silent.git"

    with pytest.raises(RemoteTimeout) as raised:
        list_tags(url, recorded_git.policy(timeout=1))

    assert isinstance(raised.value, RemoteUnreachable)
    assert raised.value.kind == "timeout"
    assert "no answer within 1 seconds" in str(raised.value)
    assert silent_server.connections >= 1
    # git and its transport helper (git-remote-http) were killed with their process group.
    assert not [line for line in process_command_lines() if f":{silent_server.port}/" in line]


def test_the_caller_s_git_configuration_and_environment_do_not_reach_git(
    git_daemon: GitDaemon,
    repository_folder: RepositoryFolder,
    recorded_git: RecordedGit,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo, relative = repository_folder.create("org/isolated")
    commit = repo.commit()
    repo.tag("v1", commit)
    url = git_daemon.url(relative)
    # A global config that would send the URL elsewhere, and tracing that would print to stderr.
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        f'[url "git://127.0.0.1:{free_port()}/"]\n\tinsteadOf = git://127.0.0.1:{git_daemon.port}/\n'
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    monkeypatch.setenv("GIT_TRACE", "1")
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "not-a-repository"))
    monkeypatch.chdir(tmp_path)

    assert list_tags(url, recorded_git.policy()).tags["v1"].commit_sha == commit


def test_credentials_go_to_their_host_and_nowhere_else(
    git_http: GitHttpServer,
    repository_folder: RepositoryFolder,
    recorded_git: RecordedGit,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "ghp_s3cretT0kenThatMustNeverLeak"
    repo, relative = repository_folder.create("acme/private")
    repo.tag("v1", repo.commit())
    policy = recorded_git.policy(credentials=f"127.0.0.1=x-access-token:{token}")
    git_http.snapshot_processes = True
    caplog.set_level(logging.DEBUG)

    tags = list_tags(git_http.url(relative), policy)
    with pytest.raises(RemoteUnreachable) as raised:
        list_tags(git_http.url("acme/absent.git"), policy)

    assert "v1" in tags.tags
    # The server got the token as HTTP Basic credentials ...
    assert {request.authorization for request in git_http.requests} == {
        "Basic eC1hY2Nlc3MtdG9rZW46Z2hwX3MzY3JldFQwa2VuVGhhdE11c3ROZXZlckxlYWs="
    }
    # ... and it was in no command line of any process alive while git talked to the server,
    snapshots = [line for request in git_http.requests for line in request.command_lines]
    assert any("git-remote-http" in line for line in snapshots)
    assert not [line for line in snapshots if token in line or "eC1hY2Nlc3Mt" in line]
    assert not [line for line in recorded_git.calls() if token in line]
    # ... in no log line and in no error message.
    assert caplog.records
    assert not [record for record in caplog.records if token in record.getMessage()]
    assert token not in str(raised.value) and token not in repr(policy)
    assert token not in str(policy.credentials)


def test_credentials_never_travel_over_plain_http_to_another_machine(
    recorded_git: RecordedGit, tmp_path: Path
) -> None:
    from registry.git.remote import git_environment
    from registry.git.urls import checked_url

    policy = recorded_git.policy(
        schemes=["https", "http"],
        hosts=["git.example.org"],
        credentials={"git.example.org": "user:tok"},
    )

    def headers(url: str) -> list[str]:
        environment = git_environment(policy, checked_url(url, policy), tmp_path)
        return [value for key, value in environment.items() if value.startswith("Authorization")]

    assert headers("https://git.example.org/org/name.git") == ["Authorization: Basic dXNlcjp0b2s="]
    assert headers("http://git.example.org/org/name.git") == []


def test_credentials_of_another_host_are_not_sent(
    git_http: GitHttpServer, repository_folder: RepositoryFolder, recorded_git: RecordedGit
) -> None:
    repo, relative = repository_folder.create("acme/public")
    repo.tag("v1", repo.commit())
    policy = recorded_git.policy(credentials={"github.com": "x-access-token:ghp_other"})

    list_tags(git_http.url(relative), policy)

    assert {request.authorization for request in git_http.requests} == {None}


def test_the_process_environment_is_not_inherited(
    git_daemon: GitDaemon,
    repository_folder: RepositoryFolder,
    recorded_git: RecordedGit,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    repo, relative = repository_folder.create("org/env")
    repo.tag("v1", repo.commit())
    monkeypatch.setenv("GIT_SSH_COMMAND", "touch /tmp/should-not-matter")
    wrapper = Path(recorded_git.path)
    wrapper.write_text(
        wrapper.read_text().replace("exec ", f'env > "{wrapper.parent}/environment"\nexec ', 1)
    )

    list_tags(git_daemon.url(relative), recorded_git.policy())

    environment = dict(
        line.split("=", 1) for line in (wrapper.parent / "environment").read_text().splitlines()
    )
    assert environment["GIT_ALLOW_PROTOCOL"] == "git"
    assert environment["GIT_TERMINAL_PROMPT"] == "0"
    assert environment["GIT_CONFIG_NOSYSTEM"] == "1"
    assert environment["GIT_CONFIG_GLOBAL"] == os.devnull
    assert not any(Path(environment["HOME"]).iterdir())
    assert "GIT_SSH_COMMAND" not in environment
    config = {
        environment[f"GIT_CONFIG_KEY_{n}"]: environment[f"GIT_CONFIG_VALUE_{n}"]
        for n in range(int(environment["GIT_CONFIG_COUNT"]))
    }
    assert config["http.followRedirects"] == "false"


def test_a_process_that_listed_a_remote_leaves_no_temporary_folder(
    git_daemon: GitDaemon, repository_folder: RepositoryFolder, tmp_path: Path
) -> None:
    """git runs with a private empty HOME made for the process; it goes with the process."""
    import subprocess
    import sys

    repo, relative = repository_folder.create("pytroll/fogpy")
    repo.tag("v1.0.0", repo.commits(1)[0])
    script = f"""
import django
django.setup()
from registry.git.policy import GitPolicy
from registry.git.remote import empty_home, list_tags
policy = GitPolicy.build(schemes=["git"], hosts=["127.0.0.1"], timeout=20)
assert "v1.0.0" in list_tags({git_daemon.url(relative)!r}, policy).tags
print(empty_home().parent)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "TMPDIR": str(tmp_path), "DJANGO_READ_DOT_ENV_FILE": "false"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    home = Path(done.stdout.strip().splitlines()[-1])
    assert home.parent == tmp_path
    assert not home.exists()
    assert list(tmp_path.iterdir()) == []
