"""Repository names as git hosts spell them (CONTRACT §1), everywhere a name goes in the codec:
the reader, ``depends_on``, the offline checks, the writer, the diff and its summary."""

import json
import textwrap

import pytest

from releases.manifests import (
    Finding,
    ManifestRejected,
    check_manifest,
    diff_manifests,
    dump_manifest,
    parse_manifest,
)
from releases.manifests.rules import repository_name_problem

GOOD_NAMES = [
    "fogpy",
    "pytroll/fogpy",
    "openstack/nova",
    "group/subgroup/project",
    "gitlab-org/quality/triage-ops",
    "org/.github",
    "Org_1/my.repo-name",
    "a/" + "b" * 253,  # 255 characters
]


def manifest_text(names: list[str], **extra: str) -> str:
    entries = "".join(
        f'  - name: {json.dumps(name)}\n    tag: "v1.0.0"\n' + extra.get(name, "") for name in names
    )
    return f'version: "1.0"\nrepositories:\n{entries}'


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_names_with_owners_and_groups_are_read_and_written_back(name):
    text = manifest_text(["fogpy_utils", "other", "third", name])
    m = parse_manifest(text, source="m.yaml")
    assert m.repositories[3].name == name
    for fmt in ("yaml", "json"):
        assert parse_manifest(dump_manifest(m, fmt), format=fmt) == m
    assert f"  - name: {json.dumps(name)}\n" in dump_manifest(m, "yaml")


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("/nova", "empty segment (a '/' at the start or end, or '//')"),
        ("openstack//nova", "empty segment (a '/' at the start or end, or '//')"),
        ("openstack/nova/", "empty segment (a '/' at the start or end, or '//')"),
        ("openstack/../nova", "segment '..' is not allowed"),
        ("./nova", "segment '.' is not allowed"),
        ("openstack/-nova", "segment '-nova' starts with '-'"),
        ("-nova", "segment '-nova' starts with '-'"),
        ("open stack/nova", "whitespace (' ') is not allowed"),
        ("openstack/nova\n", "whitespace ('\\n') is not allowed"),
        ("openstack\tnova", "whitespace ('\\t') is not allowed"),
        (
            "openstack:nova",
            "':' is not allowed; use segments of letters, digits, '.', '_' and '-' joined by "
            "'/' (at most 255 characters)",
        ),
        (
            "pytroll/fögpy",
            "'ö' is not allowed; use segments of letters, digits, '.', '_' and '-' joined by "
            "'/' (at most 255 characters)",
        ),
    ],
)
def test_a_bad_name_is_refused_at_its_path_saying_exactly_what_is_wrong(name, problem):
    text = manifest_text(["fogpy", "fogpy_utils", "chempipe-plugins", name])
    with pytest.raises(ManifestRejected) as caught:
        parse_manifest(text, source="v1.0.yaml")
    (error,) = caught.value.errors
    assert error == Finding(
        "format",
        "error",
        "repositories[3].name",
        f"{name!r} is not a valid repository name: {problem}",
        9,
    )


def test_an_empty_or_too_long_name_is_refused():
    for name, message in [
        ("", "a repository name must not be empty"),
        ("a/" + "b" * 254, "is 256 characters long; at most 255 are allowed"),
    ]:
        with pytest.raises(ManifestRejected) as caught:
            parse_manifest(manifest_text(["fogpy", name]), source="v1.0.yaml")
        assert [(e.path, e.line, e.message) for e in caught.value.errors] == [
            ("repositories[1].name", 5, message)
        ]


def test_the_rule_is_one_function_the_catalogue_shares():
    assert [repository_name_problem(name) for name in GOOD_NAMES] == [None] * len(GOOD_NAMES)
    assert repository_name_problem("a//b") == (
        "'a//b' is not a valid repository name: empty segment (a '/' at the start or end, or '//')"
    )


OWNED = textwrap.dedent(
    """\
    version: "2.0"
    repositories:
      - name: "openstack/nova"
        tag: "nova-27.1.0"
        commit_sha: "0123456789abcdef0123456789abcdef01234567"
        package_version: "27.1.0"
        depends_on: ["openstack/oslo.config", "gitlab-org/quality/triage-ops"]
      - name: "openstack/oslo.config"
        tag: "9.4.0"
        commit_sha: "89abcdef0123456789abcdef0123456789abcdef"
        package_version: "9.4.0"
      - name: "gitlab-org/quality/triage-ops"
        tag: "v1.2.3"
        commit_sha: "fedcba9876543210fedcba9876543210fedcba98"
        package_version: "1.2.3"
        depends_on: ["openstack/nova"]
    """
)


def test_depends_on_names_entries_with_owners_and_cycles_are_named_in_full():
    m = parse_manifest(OWNED, source="v2.0.yaml")
    assert m.repositories[0].depends_on == (
        "openstack/oslo.config",
        "gitlab-org/quality/triage-ops",
    )
    assert check_manifest(m) == [
        Finding(
            "dependency-cycle",
            "error",
            "repositories[0].depends_on",
            "circular dependency: openstack/nova -> gitlab-org/quality/triage-ops -> "
            "openstack/nova",
        )
    ]
    assert '    depends_on: ["openstack/oslo.config", "gitlab-org/quality/triage-ops"]\n' in (
        dump_manifest(m, "yaml")
    )


@pytest.mark.parametrize(
    ("written", "meant"),
    [
        ("openstack/nvoa", "openstack/nova"),  # a typo
        ("nova", "openstack/nova"),  # the owner left out
        ("oslo.config", "openstack/oslo.config"),
        ("other/triage-ops", "gitlab-org/quality/triage-ops"),  # the wrong group
    ],
)
def test_a_depends_on_name_that_is_not_an_entry_suggests_the_one_meant(written, meant):
    text = OWNED.replace('depends_on: ["openstack/nova"]', f'depends_on: ["{written}"]')
    with pytest.raises(ManifestRejected) as caught:
        parse_manifest(text, source="v2.0.yaml")
    (error,) = caught.value.errors
    assert (error.path, error.line, error.code) == (
        "repositories[2].depends_on[0]",
        16,
        "unknown-reference",
    )
    assert error.message == (
        f"{written!r} is not a repository of this manifest; did you mean {meant!r}?"
    )


def test_a_tag_named_after_the_project_matches_its_package_version():
    # nova tags as "nova-27.1.0", not "openstack/nova-27.1.0"; both are read.
    m = parse_manifest(OWNED.replace('"nova-27.1.0"', '"nova-27.2.0"'), source="v2.0.yaml")
    (mismatch,) = [f for f in check_manifest(m) if f.code == "version-mismatch"]
    assert mismatch.message == (
        "package version '27.1.0' does not match the tag 'nova-27.2.0' (version 27.2.0)"
    )
    for tag in ("nova-27.1.0", "openstack/nova-27.1.0", "v27.1.0"):
        m = parse_manifest(OWNED.replace('"nova-27.1.0"', f'"{tag}"'), source="v2.0.yaml")
        assert [f.code for f in check_manifest(m)] == ["dependency-cycle"], tag


def test_the_diff_and_its_summary_name_repositories_with_their_owners():
    old = parse_manifest(OWNED, source="v2.0.yaml")
    new = parse_manifest(
        OWNED.replace('tag: "9.4.0"', 'tag: "9.5.0"')
        .replace('package_version: "9.4.0"', 'package_version: "9.5.0"')
        .replace("gitlab-org/quality/triage-ops", "gitlab-org/quality/triage-bot"),
        source="v2.0.yaml",
    )
    diff = diff_manifests(old, new)
    assert diff.added_pins == ["gitlab-org/quality/triage-bot"]
    assert diff.removed_pins == ["gitlab-org/quality/triage-ops"]
    assert diff.summary() == (
        "updated: +gitlab-org/quality/triage-bot; -gitlab-org/quality/triage-ops; "
        "openstack/nova depends_on ['openstack/oslo.config', 'gitlab-org/quality/triage-ops'] "
        "-> ['openstack/oslo.config', 'gitlab-org/quality/triage-bot']; "
        "openstack/oslo.config tag 9.4.0 -> 9.5.0; "
        "openstack/oslo.config package_version 9.4.0 -> 9.5.0"
    )
    assert diff.as_dict()["pins"]["changed"]["openstack/oslo.config"]["tag"] == {
        "old": "9.4.0",
        "new": "9.5.0",
    }
