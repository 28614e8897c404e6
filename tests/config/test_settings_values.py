"""The settings read from the environment: typed, with a clear refusal that never shows a secret."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.environment import GitCredential, git_credentials, positive_number, public_url

from .project import run_project, settings_of

LOCAL = {"DJANGO_SETTINGS_MODULE": "config.settings.local"}
TOKEN = "ghp_0123456789abcdefABCDEF0123456789abcd"


def test_git_credentials_are_read_per_host() -> None:
    credentials = git_credentials(
        f" github.com=ci-bot:{TOKEN}, GitLab.Example.org=deploy:glpat-a:b=c==,"
    )
    assert credentials == {
        "github.com": ("ci-bot", TOKEN),
        # Host names compare in lower case; a token keeps its ":" and "=" characters.
        "gitlab.example.org": ("deploy", "glpat-a:b=c=="),
    }
    user, token = credentials["github.com"]
    assert (user, token) == ("ci-bot", TOKEN)


def test_no_git_credentials_is_an_empty_mapping() -> None:
    assert git_credentials("") == {}


def test_a_git_credential_never_shows_its_token() -> None:
    credential = GitCredential("ci-bot", TOKEN)
    assert repr(credential) == "GitCredential(user='ci-bot', token='***')"
    assert TOKEN not in f"{credential!r} {credential!s} {[credential]} { ({'h': credential}) }"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            f"github.com=ci-bot:{TOKEN},{TOKEN}",
            "REGISTRY_GIT_CREDENTIALS entry 2 is not host=user:token: the part before '=' must "
            "be a host name such as github.com",
        ),
        (
            f"ci-bot:{TOKEN}=github.com",
            "REGISTRY_GIT_CREDENTIALS entry 1 is not host=user:token: the part before '=' must "
            "be a host name such as github.com",
        ),
        (
            f"https://github.com=ci-bot:{TOKEN}",
            "REGISTRY_GIT_CREDENTIALS entry 1 is not host=user:token: the part before '=' must "
            "be a host name such as github.com",
        ),
        (
            f"github.com={TOKEN}",
            "REGISTRY_GIT_CREDENTIALS entry 1 (github.com) is not host=user:token: the user or "
            "the token is missing",
        ),
        (
            "github.com=ci-bot:",
            "REGISTRY_GIT_CREDENTIALS entry 1 (github.com) is not host=user:token: the user or "
            "the token is missing",
        ),
        (
            f"github.com=ci-bot:{TOKEN},GITHUB.COM=other:{TOKEN}",
            "REGISTRY_GIT_CREDENTIALS entry 2 (github.com) repeats a host given before it",
        ),
    ],
)
def test_a_malformed_git_credential_is_located_without_its_token(raw: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as refused:
        git_credentials(raw)
    assert str(refused.value) == message
    assert TOKEN not in str(refused.value)


def test_the_settings_read_git_credentials_and_refuse_a_malformed_one() -> None:
    shown = settings_of(
        ["REGISTRY_GIT_CREDENTIALS"],
        {**LOCAL, "REGISTRY_GIT_CREDENTIALS": f"github.com=ci:{TOKEN}"},
    )
    assert shown == {"REGISTRY_GIT_CREDENTIALS": {"github.com": ["ci", TOKEN]}}

    result = run_project(
        "manage.py",
        "check",
        env={**LOCAL, "REGISTRY_GIT_CREDENTIALS": f"github.com=ci:{TOKEN},{TOKEN}"},
    )
    assert result.returncode != 0
    assert result.stderr.strip().endswith(
        "ImproperlyConfigured: REGISTRY_GIT_CREDENTIALS entry 2 is not host=user:token: the part "
        "before '=' must be a host name such as github.com"
    )
    assert TOKEN not in result.stdout + result.stderr


def test_the_settings_of_the_contract_have_their_defaults() -> None:
    assert settings_of(
        [
            "NOTION_REQUESTS_PER_SECOND",
            "REGISTRY_PUBLIC_URL",
            "REGISTRY_WEBHOOK_SECRET",
            "REGISTRY_GIT_CREDENTIALS",
            "REGISTRY_REQUIRE_BROKER",
        ],
        LOCAL,
    ) == {
        "NOTION_REQUESTS_PER_SECOND": 3.0,
        "REGISTRY_PUBLIC_URL": None,
        "REGISTRY_WEBHOOK_SECRET": None,
        "REGISTRY_GIT_CREDENTIALS": {},
        "REGISTRY_REQUIRE_BROKER": False,
    }


def test_the_settings_of_the_contract_are_read_from_the_environment() -> None:
    assert settings_of(
        ["NOTION_REQUESTS_PER_SECOND", "REGISTRY_PUBLIC_URL", "REGISTRY_WEBHOOK_SECRET"],
        {
            **LOCAL,
            "NOTION_REQUESTS_PER_SECOND": "2.5",
            "REGISTRY_PUBLIC_URL": "https://registry.example.org/",
            "REGISTRY_WEBHOOK_SECRET": "whsec-0123456789",
        },
    ) == {
        "NOTION_REQUESTS_PER_SECOND": 2.5,
        "REGISTRY_PUBLIC_URL": "https://registry.example.org",
        "REGISTRY_WEBHOOK_SECRET": "whsec-0123456789",
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "registry.example.org",
            "REGISTRY_PUBLIC_URL must be an absolute http:// or https:// address, such as "
            "https://registry.example.org",
        ),
        (
            "ftp://registry.example.org",
            "REGISTRY_PUBLIC_URL must be an absolute http:// or https:// address, such as "
            "https://registry.example.org",
        ),
        (
            "https://admin:Hunter2@registry.example.org",
            "REGISTRY_PUBLIC_URL must not carry a user or password",
        ),
        (
            "https://registry.example.org/?next=/admin/",
            "REGISTRY_PUBLIC_URL must not have a query or a fragment",
        ),
    ],
)
def test_a_public_url_that_cannot_prefix_links_is_refused(raw: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as refused:
        public_url(raw)
    assert str(refused.value) == message


def test_a_public_url_may_live_under_a_path() -> None:
    assert public_url("https://tools.example.org/registry/") == "https://tools.example.org/registry"
    assert public_url("") is None


@pytest.mark.parametrize("raw", ["0", "-1", "three", "inf", "nan", ""])
def test_a_request_rate_must_be_a_positive_number(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured) as refused:
        positive_number(raw, "NOTION_REQUESTS_PER_SECOND")
    assert str(refused.value) == (
        f"NOTION_REQUESTS_PER_SECOND must be a number above 0, not {raw!r}"
    )
