"""Which URL a pin's tags come from, for names as git hosts spell them."""

from __future__ import annotations

import random

import pytest

from registry.git.policy import GitPolicy
from registry.git.urls import checked_url, pin_url

TEMPLATE = "https://gitlab.com/{name}.git"


def name_corpus(count: int = 500) -> list[str]:
    """``org/name`` names like a large real release, plus nested GitLab groups."""
    rng = random.Random(6)
    orgs = ["openstack", "pytroll", "acme-corp", "Data.Science", "ml_platform", "x"]
    names = [
        f"{rng.choice(orgs)}/{rng.choice(['nova', 'fogpy', 'satpy', 'py-utils', 'a.b_c'])}-{n}"
        for n in range(count - 4)
    ]
    return [
        *names,
        "group/subgroup/project",
        "a/b/c/d/e/deeply-nested",
        "fogpy",
        "Org-1/Name_2.v3",
    ]


def test_every_name_of_a_500_name_corpus_fills_the_template_with_its_slashes() -> None:
    policy = GitPolicy()
    corpus = name_corpus()
    assert len(set(corpus)) == 500

    urls = [pin_url(name, template=TEMPLATE) for name in corpus]

    for name, url in zip(corpus, urls, strict=True):
        assert url == f"https://gitlab.com/{name}.git"
        assert url is not None
        remote = checked_url(url, policy)
        assert remote.host == "gitlab.com"
        assert remote.url.removeprefix("https://gitlab.com/").removesuffix(".git") == name
    assert "https://gitlab.com/group/subgroup/project.git" in urls
    assert len(set(urls)) == 500


def test_the_pin_s_url_comes_first_then_the_repository_s_then_the_template() -> None:
    own = "https://github.com/fork/nova.git"
    catalogue = "https://github.com/openstack/nova.git"

    assert pin_url("openstack/nova", url=own, git_url=catalogue, template=TEMPLATE) == own
    assert pin_url("openstack/nova", git_url=catalogue, template=TEMPLATE) == catalogue
    assert pin_url("openstack/nova", template=TEMPLATE) == "https://gitlab.com/openstack/nova.git"
    assert pin_url("openstack/nova") is None


def test_the_template_is_filled_literally() -> None:
    template = "https://github.com/acme/{name}.git?ref={0}{name.__class__}"

    assert (
        pin_url("a/b", template=template)
        == "https://github.com/acme/a/b.git?ref={0}{name.__class__}"
    )
    with pytest.raises(ValueError, match=r"must contain \{name\}"):
        pin_url("a/b", template="https://github.com/acme/fixed.git")


def test_checked_url_parts() -> None:
    policy = GitPolicy.build(schemes=["https", "git"], hosts=["GitHub.com", "127.0.0.1"])

    remote = checked_url("HTTPS://GitHub.COM./Org/Name.git", policy)
    assert (remote.scheme, remote.host, remote.port) == ("https", "github.com", None)
    assert remote.origin == "https://github.com/"
    assert remote.url == "HTTPS://GitHub.COM./Org/Name.git"
    assert checked_url("git://127.0.0.1:9418/a/b", policy).origin == "git://127.0.0.1:9418/"
