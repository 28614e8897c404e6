"""Each online check's passing and failing case, against real served repositories."""

from __future__ import annotations

import logging
import uuid

import pytest

from registry.git.errors import RemoteUnreachable
from registry.git.remote import RemoteTag, RemoteTags
from releases.manifests.checks import OFFLINE_CODES
from releases.manifests.model import Finding, Manifest, RepositoryEntry
from releases.validation.checks import (
    ONLINE_CODES,
    UNREACHABLE_CODES,
    PinToCheck,
    judge_pin,
    judge_pins,
    pins_from_manifest,
)
from releases.validation.online import validate_pins
from tests.gitserver import GitDaemon, RecordedGit, RepositoryFolder, SilentServer, free_port

pytestmark = pytest.mark.git


@pytest.fixture
def fogpy(repository_folder: RepositoryFolder, git_daemon: GitDaemon):
    """pytroll/fogpy: a lightweight tag, an annotated tag, a tag of a tag, a moved tag."""
    repo, relative = repository_folder.create("pytroll/fogpy")
    first, second, third, fourth = repo.commits(4)
    shas = {
        "first": first,
        "second": second,
        "third": third,
        "fourth": fourth,
        "v2.6.0": repo.tag("v2.6.0", first),
        "v2.6.1": repo.tag("v2.6.1", second, message="Release 2.6.1"),
        "v2.6.1-final": repo.tag("v2.6.1-final", "v2.6.1", message="the tag of a tag"),
        "v2.7.0": repo.tag("v2.7.0", third),
    }
    repo.move_tag("v2.7.0", fourth)
    return git_daemon.url(relative), shas


def pin(url: str | None, tag: str, sha: str | None, index: int = 0, **more) -> PinToCheck:
    return PinToCheck(index=index, name="pytroll/fogpy", tag=tag, commit_sha=sha, url=url, **more)


def findings(results) -> list[tuple[str, str, str]]:
    return [(f.code, f.severity, f.path) for result in results for f in result.findings]


def test_a_pin_whose_tag_and_commit_match_has_no_finding(fogpy, recorded_git: RecordedGit):
    url, sha = fogpy
    pins = [
        pin(url, "v2.6.0", sha["first"], 0),  # lightweight, full SHA
        pin(url, "v2.6.1", sha["second"][:7], 1),  # annotated, peeled; abbreviated
        pin(url, "v2.6.1-final", sha["second"].upper(), 2),  # a tag of a tag; upper case
        pin(url, "v2.7.0", sha["fourth"][:12], 3),  # where the moved tag is now
        pin(url, "v2.6.0", None, 4),  # no commit pinned: only the tag is checked
    ]

    results = validate_pins(pins, policy=recorded_git.policy())

    assert findings(results) == []
    assert [result.resolved_sha for result in results] == [
        sha["first"],
        sha["second"],
        sha["second"],
        sha["fourth"],
        sha["first"],
    ]
    assert all(result.reached for result in results)
    assert len(recorded_git.calls("ls-remote")) == 1


def test_a_missing_tag_is_an_error_on_the_tag_with_the_closest_name(
    fogpy, recorded_git: RecordedGit
):
    url, sha = fogpy

    (result,) = validate_pins([pin(url, "v2.6.2", sha["second"], 3)], policy=recorded_git.policy())

    assert result.findings == (
        Finding(
            "tag-missing",
            "error",
            "repositories[3].tag",
            f"the tag 'v2.6.2' is not in {url} (did you mean 'v2.6.1'?)",
        ),
    )
    assert result.resolved_sha is None


def test_a_commit_that_is_not_the_tag_s_is_a_mismatch(fogpy, recorded_git: RecordedGit):
    url, sha = fogpy

    (result,) = validate_pins([pin(url, "v2.6.1", sha["first"], 1)], policy=recorded_git.policy())

    assert result.findings == (
        Finding(
            "sha-mismatch",
            "error",
            "repositories[1].commit_sha",
            f"the tag 'v2.6.1' points at commit {sha['second']}, not {sha['first']}",
        ),
    )


def test_a_tag_moved_since_the_pin_was_cut_is_a_mismatch(fogpy, recorded_git: RecordedGit):
    url, sha = fogpy

    (result,) = validate_pins([pin(url, "v2.7.0", sha["third"][:7])], policy=recorded_git.policy())

    assert [f.code for f in result.findings] == ["sha-mismatch"]
    assert f"points at commit {sha['fourth']}, not {sha['third'][:7]}" in result.findings[0].message
    assert result.resolved_sha == sha["fourth"]


@pytest.mark.parametrize("tag", ["v2.6.1", "v2.6.1-final"])
def test_a_pin_holding_the_annotated_tag_object_s_sha_is_told_which_commit_to_pin(
    tag: str, fogpy, recorded_git: RecordedGit
):
    url, sha = fogpy

    (result,) = validate_pins([pin(url, tag, sha[tag][:10], 2)], policy=recorded_git.policy())

    assert result.findings == (
        Finding(
            "sha-mismatch",
            "error",
            "repositories[2].commit_sha",
            f"{sha[tag][:10]} is the SHA of the annotated tag object {tag!r}, not of its commit: "
            f"pin the commit {sha['second']}",
        ),
    )


def test_an_unreachable_remote_is_its_own_finding_and_nothing_else(
    fogpy, recorded_git: RecordedGit
):
    url = f"git://127.0.0.1:{free_port()}/pytroll/fogpy.git"

    (result,) = validate_pins([pin(url, "v2.6.1", "0" * 40, 5)], policy=recorded_git.policy())

    assert findings([result]) == [("unreachable", "error", "repositories[5]")]
    assert result.findings[0].message.startswith(f"{url} unreachable: ")
    assert not result.reached and result.resolved_sha is None
    assert {f.code for f in result.findings} <= UNREACHABLE_CODES


def test_a_remote_that_never_answers_is_unreachable_after_the_timeout(
    silent_server: SilentServer, recorded_git: RecordedGit
):
    url = f"git://127.0.0.1:{silent_server.port}/pytroll/fogpy.git"

    (result,) = validate_pins([pin(url, "v1", "a" * 40)], policy=recorded_git.policy(timeout=1))

    assert findings([result]) == [("unreachable", "error", "repositories[0]")]
    assert "no answer within 1 seconds (REGISTRY_GIT_TIMEOUT)" in result.findings[0].message


def test_refused_and_missing_urls(recorded_git: RecordedGit):
    pins = [
        pin("ext::sh -c id", "v1", None, 0),
        pin("https://github.com/pytroll/fogpy.git", "v1", None, 1),
        pin(None, "v1", None, 2),
    ]

    results = validate_pins(pins, policy=recorded_git.policy())

    assert findings(results) == [
        ("url-refused", "error", "repositories[0].url"),
        ("url-refused", "error", "repositories[1].url"),
        ("url-missing", "warning", "repositories[2]"),
    ]
    assert "not contacted: remote-helper URLs" in results[0].findings[0].message
    assert "the scheme 'https' is not allowed" in results[1].findings[0].message
    assert recorded_git.calls() == []


def test_one_ls_remote_per_distinct_url_for_many_pins(
    repository_folder: RepositoryFolder, git_daemon: GitDaemon, recorded_git: RecordedGit
):
    """Hundreds of pins over a few repositories named with owners, as a release of releases."""
    template = git_daemon.url("{prefix}/{name}.git")
    prefix = f"many-pins-{uuid.uuid4().hex[:8]}"
    commits = {}
    for number in range(8):
        name = f"org-{number % 3}/name-{number}"
        repo, _ = repository_folder.create(name, prefix=prefix)
        commits[name] = repo.commits(30)
        repo.many_tags({f"v1.{n}.0": sha for n, sha in enumerate(commits[name])})
    pins = [
        PinToCheck(
            index=index,
            name=name,
            tag=f"v1.{index % 30}.0",
            commit_sha=commits[name][index % 30] if index % 50 else "f" * 40,
            url=template.replace("{prefix}", prefix).replace("{name}", name),
        )
        for index in range(400)
        for name in [list(commits)[index % 8]]
    ]

    results = validate_pins(pins, policy=recorded_git.policy(), concurrency=4)

    assert len(results) == len(pins) == 400
    assert len(recorded_git.calls("ls-remote")) == 8
    wrong = [result.pin.index for result in results if result.findings]
    assert wrong == [pin.index for pin in pins if pin.commit_sha == "f" * 40]
    assert {f.code for result in results for f in result.findings} == {"sha-mismatch"}


def test_pins_from_a_manifest_take_their_urls_from_the_pin_the_catalogue_or_the_template():
    manifest = Manifest(
        version="1.4",
        repositories=(
            RepositoryEntry("pytroll/fogpy", "v2.6.1", url="https://gitlab.com/fork/fogpy.git"),
            RepositoryEntry("openstack/nova", "27.0.0", package_version="27.0.0"),
            RepositoryEntry("group/subgroup/project", "v1"),
        ),
    )

    pins = pins_from_manifest(
        manifest,
        template="https://github.com/{name}.git",
        git_urls={"openstack/nova": "https://opendev.org/openstack/nova"},
        package_names={"openstack/nova": "nova-server"},
    )

    assert [(p.index, p.url) for p in pins] == [
        (0, "https://gitlab.com/fork/fogpy.git"),
        (1, "https://opendev.org/openstack/nova"),
        (2, "https://github.com/group/subgroup/project.git"),
    ]
    assert [p.project for p in pins] == ["fogpy", "nova-server", "project"]
    assert pins[1].package_key == ("nova-server", "27.0.0")


def test_judging_is_pure_and_a_url_without_an_answer_is_a_caller_s_mistake():
    tags = RemoteTags("https://github.com/o/n.git", {"v1": RemoteTag("v1", "a" * 40, "b" * 40)})
    error = RemoteUnreachable("https://github.com/o/m.git", "Repository not found")
    first = pin("https://github.com/o/n.git", "v1", "b" * 8)
    second = pin("https://github.com/o/m.git", "v1", "a" * 40, 1)

    results = judge_pins([first, second], {first.url: tags, second.url: error})  # type: ignore[dict-item]

    assert [f.code for r in results for f in r.findings] == ["sha-mismatch", "unreachable"]
    assert judge_pin(first, tags).findings == results[0].findings
    with pytest.raises(KeyError):
        judge_pins([pin("https://github.com/o/x.git", "v1", None)], {})


def test_the_online_codes_are_apart_from_the_offline_ones():
    assert not ONLINE_CODES & OFFLINE_CODES
    assert UNREACHABLE_CODES <= ONLINE_CODES


def test_a_token_appears_in_no_finding_or_log_line(
    fogpy, recorded_git: RecordedGit, caplog: pytest.LogCaptureFixture
):
    url, sha = fogpy
    token = "ghp_findingsMustNotShowThis"
    policy = recorded_git.policy(credentials={"127.0.0.1": f"x-access-token:{token}"})
    caplog.set_level(logging.DEBUG)
    pins = [
        pin(url, "v2.6.1", sha["first"], 0),
        pin(url.replace("fogpy", "absent"), "v1", None, 1),
        pin(f"git://127.0.0.1:{free_port()}/x/y.git", "v1", None, 2),
    ]

    results = validate_pins(pins, policy=policy)

    assert [f.code for r in results for f in r.findings] == [
        "sha-mismatch",
        "unreachable",
        "unreachable",
    ]
    assert not [f for r in results for f in r.findings if token in str(f.as_dict())]
    assert not [r for r in caplog.records if token in r.getMessage()]
