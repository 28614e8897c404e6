"""The policy, clone cache and package index as CONTRACT §5's settings make them."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from registry.git.clones import clone_cache_from_settings
from registry.git.policy import GitPolicy, policy_from_settings
from releases.validation.package_index import package_index_from_settings


def test_the_contract_s_defaults_when_nothing_is_set(settings) -> None:
    for name in (
        "REGISTRY_GIT_ALLOWED_SCHEMES",
        "REGISTRY_GIT_ALLOWED_HOSTS",
        "REGISTRY_GIT_TIMEOUT",
        "REGISTRY_GIT_CREDENTIALS",
        "REGISTRY_PACKAGE_INDEX_URL",
    ):
        if hasattr(settings, name):
            delattr(settings, name)

    policy = policy_from_settings()

    assert policy == GitPolicy()
    assert policy.allowed_schemes == {"https"}
    assert policy.allowed_hosts == {"github.com", "gitlab.com", "bitbucket.org"}
    assert policy.timeout == 20
    assert not policy.credentials
    assert package_index_from_settings() is None


def test_settings_as_django_environ_reads_them(settings, tmp_path: Path) -> None:
    settings.REGISTRY_GIT_ALLOWED_SCHEMES = ["https", "HTTP", " git "]
    settings.REGISTRY_GIT_ALLOWED_HOSTS = ["GitHub.com", "127.0.0.1"]
    settings.REGISTRY_GIT_TIMEOUT = 3
    settings.REGISTRY_GIT_CREDENTIALS = {"github.com": "x-access-token:ghp_settings"}
    settings.REGISTRY_PACKAGE_INDEX_URL = "http://127.0.0.1:1/pypi/"
    settings.REGISTRY_GIT_CACHE_DIR = str(tmp_path / "clones")
    settings.REGISTRY_GIT_CLONE_TIMEOUT = 120

    policy = policy_from_settings()
    clones = clone_cache_from_settings()
    index = package_index_from_settings()

    assert policy.allowed_schemes == {"https", "http", "git"}
    assert policy.allowed_hosts == {"github.com", "127.0.0.1"}
    assert policy.timeout == 3.0
    assert (policy.credentials.authorization("github.com") or "").startswith("Basic ")
    assert "ghp_settings" not in repr(policy)
    assert clones.root == tmp_path / "clones"
    assert clones.clone_policy.timeout == 120 and clones.policy == policy
    assert index is not None and index.root == "http://127.0.0.1:1/pypi"
    index.close()


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        GitPolicy.build(timeout=0)


def test_credentials_as_the_settings_module_reads_them_reach_the_policy(settings) -> None:
    from config.environment import git_credentials

    settings.REGISTRY_GIT_CREDENTIALS = git_credentials("github.com=x-access-token:ghp_fromenv")

    policy = policy_from_settings()

    expected = base64.b64encode(b"x-access-token:ghp_fromenv").decode("ascii")
    assert policy.credentials.authorization("github.com") == f"Basic {expected}"
    assert "ghp_fromenv" not in repr(policy)
