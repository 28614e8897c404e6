"""URLs come from manifests: everything but a plain URL of an allowed scheme and host is refused
before any process runs, and a redirect is never followed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from registry.git.credentials import GitCredentials
from registry.git.errors import RemoteRefused, RemoteUnreachable
from registry.git.remote import list_tags
from registry.git.urls import checked_url
from tests.gitserver import GitDaemon, GitHttpServer, RecordedGit, RepositoryFolder

pytestmark = pytest.mark.git


@pytest.fixture
def served_repository(git_daemon: GitDaemon, repository_folder: RepositoryFolder):
    """A repository that every refused URL below would otherwise reach."""
    repo, relative = repository_folder.create("org/target")
    repo.tag("v1", repo.commit())
    return repo, relative


def refused_urls(port: int, repo_path: Path, marker: Path) -> list[tuple[str, str]]:
    here = f"127.0.0.1:{port}"
    return [
        (f"file://{repo_path}", "file:// URLs (local repositories) are refused"),
        (f"ext::sh -c touch% {marker}", "remote-helper URLs such as 'ext::' are refused"),
        (f"ext::sh -c touch\\ {marker}", "remote-helper URLs such as 'ext::' are refused"),
        (f"git://{here}/org/target.git\n--upload-pack=x", "whitespace, control characters"),
        ("ext::git%20daemon", "remote-helper URLs such as 'ext::' are refused"),
        ("fd::17", "remote-helper URLs such as 'ext::' are refused"),
        (str(repo_path), "a local path is not a remote URL"),
        ("../served/org/target.git", "a local path is not a remote URL"),
        (f"--upload-pack=touch {marker}", "must not start with '-'"),
        ("-uupload-pack", "must not start with '-'"),
        (f"git://localhost:{port}/org/target.git", "the host 'localhost' is not allowed"),
        (f"git://127.0.0.2:{port}/org/target.git", "the host '127.0.0.2' is not allowed"),
        (f"https://{here}/org/target.git", "the scheme 'https' is not allowed (allowed: git)"),
        (f"ssh://{here}/org/target.git", "the scheme 'ssh' is not allowed (allowed: git)"),
        (f"git://user:secret@{here}/org/target.git", "credentials must not be written"),
        (f"git://{here}@github.com/x.git", "credentials must not be written"),
        ("git@127.0.0.1:org/target.git", "scp-like"),
        (f"git://{here}/org/target.git?x=1", "no query or fragment"),
        (f"git://{here}/", "must name a repository"),
        (f"git://{here}/../etc", "must name a repository"),
        ("", "there is no URL to contact"),
    ]


def test_each_dangerous_url_is_refused_and_nothing_runs(
    git_daemon: GitDaemon,
    served_repository,
    repository_folder: RepositoryFolder,
    recorded_git: RecordedGit,
    tmp_path: Path,
) -> None:
    _, relative = served_repository
    marker = tmp_path / "pwned"
    # git:// and 127.0.0.1 allowed: the served repository itself is listed with this policy.
    policy = recorded_git.policy(schemes=["git"])
    assert "v1" in list_tags(git_daemon.url(relative), policy).tags
    assert len(recorded_git.calls()) == 1

    for url, reason in refused_urls(git_daemon.port, repository_folder.root / relative, marker):
        with pytest.raises(RemoteRefused) as raised:
            list_tags(url, policy)
        assert raised.value.kind == "refused"
        assert reason in raised.value.reason, url
        assert "secret" not in str(raised.value)

    assert len(recorded_git.calls()) == 1
    assert not marker.exists()


def test_file_and_ext_stay_refused_even_when_configured(recorded_git: RecordedGit) -> None:
    policy = recorded_git.policy(schemes=["file", "ext", "git"], hosts=["127.0.0.1", ""])

    for url in ("file:///srv/git/org/name.git", "ext::sh -c id", "file://127.0.0.1/srv/x.git"):
        with pytest.raises(RemoteRefused):
            checked_url(url, policy)
    assert recorded_git.calls() == []


def test_the_default_policy_allows_only_https_to_the_big_three() -> None:
    from registry.git.policy import GitPolicy

    policy = GitPolicy()
    for url in (
        "https://github.com/pytroll/fogpy.git",
        "https://GitLab.com/group/subgroup/project.git",
        "https://bitbucket.org./org/name",
    ):
        checked_url(url, policy)
    for url in ("http://github.com/org/name.git", "git://github.com/org/name.git"):
        with pytest.raises(RemoteRefused, match="is not allowed"):
            checked_url(url, policy)
    with pytest.raises(RemoteRefused, match=re.escape("'github.com.evil.example' is not allowed")):
        checked_url("https://github.com.evil.example/org/name.git", policy)


def test_a_redirect_to_another_host_is_not_followed(
    git_http: GitHttpServer,
    served_repository,
    recorded_git: RecordedGit,
) -> None:
    _, relative = served_repository
    token = "glpat-redirect-secret"
    # /moved/... answers 301 to the same server under a host name that is not allowed.
    git_http.redirects["/moved/"] = git_http.url("", host="localhost")
    policy = recorded_git.policy(credentials={"127.0.0.1": f"oauth2:{token}"})

    with pytest.raises(RemoteUnreachable) as raised:
        list_tags(git_http.url(f"moved/{relative}"), policy)

    assert "redirect, which is not followed" in raised.value.reason
    assert token not in str(raised.value)
    # One request, the one answered with the redirect; nothing went to the redirect's target.
    assert [request.path for request in git_http.requests] == [f"/moved/{relative}/info/refs"]


def test_a_redirect_within_the_same_host_is_not_followed_either(
    git_http: GitHttpServer, served_repository, recorded_git: RecordedGit
) -> None:
    _, relative = served_repository
    git_http.redirects["/old-name/"] = git_http.url("")

    with pytest.raises(RemoteUnreachable, match="redirect"):
        list_tags(git_http.url(f"old-name/{relative}"), recorded_git.policy())

    assert len(git_http.requests) == 1


def test_credentials_parse_without_repeating_secrets() -> None:
    credentials = GitCredentials.parse("github.com=x-access-token:ghp_abc, GitLab.com=glpat-xyz")

    assert credentials.hosts == {"github.com", "gitlab.com"}
    assert credentials.authorization("GITHUB.COM") == "Basic eC1hY2Nlc3MtdG9rZW46Z2hwX2FiYw=="
    assert credentials.authorization("gitlab.com") == "Bearer glpat-xyz"
    assert credentials.authorization("bitbucket.org") is None
    assert "ghp_abc" not in repr(credentials) and "glpat" not in str(credentials)
    assert credentials.redact(
        "token ghp_abc and eC1hY2Nlc3MtdG9rZW46Z2hwX2FiYw== and glpat-xyz"
    ) == ("token *** and *** and ***")
    with pytest.raises(ValueError, match="entry 2 is not host=user:token") as raised:
        GitCredentials.parse("github.com=a:b,ghp_leaked_token")
    assert "ghp_leaked_token" not in str(raised.value)
