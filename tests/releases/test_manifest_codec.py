"""The manifest codec on its own: reading, offline findings and the canonical writer.

No database and no Django: these are the rules ``validate_manifest`` and every script see.
"""

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from releases.manifests import (
    EnvironmentEntry,
    Finding,
    Manifest,
    ManifestRejected,
    RepositoryEntry,
    check_manifest,
    diff_manifests,
    dump_manifest,
    parse_manifest,
    read_manifest_file,
)

ROOT = Path(__file__).resolve().parents[2]
SEED_YAML = ROOT / "tests/fixtures/seed/release-manifest.yaml"
SEED_SHORT_JSON = ROOT / "tests/fixtures/seed/short-example.json"
EXAMPLES = ROOT / "examples/manifests"

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def manifest(*repositories: RepositoryEntry, **fields) -> Manifest:
    return Manifest(version=fields.pop("version", "1.0"), repositories=repositories, **fields)


def repo(name: str = "fogpy", tag: str = "v1.0.0", **fields) -> RepositoryEntry:
    return RepositoryEntry(name=name, tag=tag, **fields)


def rejection(text: str, format: str = "yaml") -> list[Finding]:
    with pytest.raises(ManifestRejected) as caught:
        parse_manifest(text, source=f"m.{format}", format=format)
    return caught.value.errors


# --- the seed and its twins ------------------------------------------------------------------


SEED = Manifest(
    version="1.4",
    created_at=at("2025-01-15T10:00:00+00:00"),
    created_by="platform-team",
    environments={
        "production": EnvironmentEntry("prod-v1.4", at("2025-01-20T14:30:00+00:00"), "deployed"),
        "staging": EnvironmentEntry("staging-v1.4", at("2025-01-18T09:00:00+00:00"), "deployed"),
    },
    repositories=(
        RepositoryEntry("fogpy", "v2.6.1", "abc123def456", "2.6.1"),
        RepositoryEntry("fogpy_utils", "v1.4.2", "def456ghi789", "1.4.2"),
        RepositoryEntry("ML_model_dockers", "v1.4.2", "ghi789jkl012", None),
        RepositoryEntry("chempipe-plugins", "v3.1.0", "jkl012mno345", "3.1.0"),
    ),
    metadata={
        "notes": "Production release with performance improvements",
        "changelog_url": "https://github.com/org/repo/releases/tag/v1.4.0",
    },
)


def test_seed_yaml_reads_as_written():
    assert read_manifest_file(SEED_YAML) == SEED


def test_seed_yaml_and_its_json_twin_are_the_same_manifest():
    assert read_manifest_file(EXAMPLES / "json" / "v1.4.json") == read_manifest_file(SEED_YAML)
    assert read_manifest_file(EXAMPLES / "v1.4.yaml") == read_manifest_file(SEED_YAML)


def test_seed_short_json_reads_as_written():
    assert read_manifest_file(SEED_SHORT_JSON) == Manifest(
        version="1.4",
        created_at=at("2025-01-15T10:00:00+00:00"),
        created_by="platform-team",
        environments={
            "production": EnvironmentEntry(
                "prod-v1.4", at("2025-01-20T14:30:00+00:00"), "deployed"
            ),
            "staging": EnvironmentEntry(
                "staging-v1.4", at("2025-01-18T09:00:00+00:00"), "deployed"
            ),
        },
        repositories=(RepositoryEntry("fogpy", "v2.6.1", "abc123def456", "2.6.1"),),
        metadata={
            "notes": "Production release",
            "changelog_url": "https://github.com/org/repo/releases/tag/v1.4.0",
        },
    )


def test_canonical_export_of_the_seed_is_the_example_file_byte_for_byte():
    seed = read_manifest_file(SEED_YAML)
    assert dump_manifest(seed, "yaml") == (EXAMPLES / "v1.4.yaml").read_text(encoding="utf-8")
    assert dump_manifest(seed, "json") == (EXAMPLES / "json" / "v1.4.json").read_text(
        encoding="utf-8"
    )


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_is_canonical(path):
    text = path.read_text(encoding="utf-8")
    assert dump_manifest(parse_manifest(text, source=path.name), "yaml") == text


# --- offline findings -------------------------------------------------------------------------


def test_the_seeds_placeholder_shas_are_malformed_and_nothing_else_is_wrong():
    message = (
        "{!r} is not a commit SHA: expected 7 to 40 hexadecimal characters (64 for SHA-256 "
        "repositories)"
    )
    assert check_manifest(read_manifest_file(SEED_YAML)) == [
        Finding(
            "sha-malformed", "error", "repositories[1].commit_sha", message.format("def456ghi789")
        ),
        Finding(
            "sha-malformed", "error", "repositories[2].commit_sha", message.format("ghi789jkl012")
        ),
        Finding(
            "sha-malformed", "error", "repositories[3].commit_sha", message.format("jkl012mno345")
        ),
    ]


@pytest.mark.parametrize(
    "sha",
    ["abc1234", "ABCDEF0123456789abcdef0123456789abcdef01", "a" * 64, None],
)
def test_well_formed_shas_have_no_finding(sha):
    assert check_manifest(manifest(repo(commit_sha=sha))) == []


@pytest.mark.parametrize(
    "sha",
    ["abc123", "a" * 41, "a" * 63, "a" * 65, "abc123g", "abc1234 ", "abc1234\n", "", "0x1234567"],
)
def test_malformed_shas_are_error_findings(sha):
    (finding,) = check_manifest(manifest(repo(), repo("other", commit_sha=sha)))
    assert (finding.code, finding.severity, finding.path) == (
        "sha-malformed",
        "error",
        "repositories[1].commit_sha",
    )
    assert repr(sha) in finding.message


@pytest.mark.parametrize(
    ("name", "tag", "package_version"),
    [
        ("fogpy", "v2.6.1", "2.6.1"),
        ("fogpy", "V2.6.1", "2.6.1"),
        ("fogpy", "2.6.1", "2.6.1"),
        ("fogpy", "fogpy-2.6.1", "2.6.1"),
        ("fogpy", "FOGPY-2.6.1", "2.6.1"),
        ("chempipe-plugins", "chempipe-plugins-3.0.0", "3.0.0"),
        ("fogpy", "v2.6.1", "2.6.1.0"),
        ("fogpy", "v2.6", "2.6.0"),
        ("fogpy", "v3.2.0rc1", "3.2.0-rc.1"),
        ("fogpy", "v1.0.post2", "1.0-2"),
    ],
)
def test_package_version_equal_to_the_tag_under_pep_440_has_no_finding(name, tag, package_version):
    assert check_manifest(manifest(repo(name, tag, package_version=package_version))) == []


@pytest.mark.parametrize(
    ("name", "tag", "package_version", "tag_version"),
    [
        ("fogpy", "v2.6.1", "2.6.2", "2.6.1"),
        ("fogpy", "fogpy-2.6.1", "2.7.0", "2.6.1"),
        ("chempipe-plugins", "chempipe-plugins-3.0.0", "3.0.0rc1", "3.0.0"),
        ("fogpy", "v2.6.1", "2.6.1.1", "2.6.1"),
    ],
)
def test_package_version_that_does_not_match_the_tag_is_an_error(
    name, tag, package_version, tag_version
):
    (finding,) = check_manifest(
        manifest(repo(), repo(name + "x", "v1"), repo(name, tag, package_version=package_version))
    )
    assert finding == Finding(
        "version-mismatch",
        "error",
        "repositories[2].package_version",
        f"package version {package_version!r} does not match the tag {tag!r} (version "
        f"{tag_version})",
    )


def test_another_repositorys_name_is_not_stripped_from_the_tag():
    # "fogpy-2.6.1" names version 2.6.1 for fogpy only; for fogpy_utils it is no version at all.
    (finding,) = check_manifest(
        manifest(repo("fogpy_utils", "fogpy-2.6.1", package_version="2.6.1"))
    )
    assert (finding.code, finding.severity, finding.path) == (
        "version-unparsable",
        "warning",
        "repositories[0].tag",
    )


def test_unparsable_package_version_is_a_warning_on_the_package_version():
    (finding,) = check_manifest(manifest(repo(tag="v1.0", package_version="latest")))
    assert finding == Finding(
        "version-unparsable",
        "warning",
        "repositories[0].package_version",
        "'latest' is not a PEP 440 version, so it cannot be compared with the tag 'v1.0'",
    )


def test_tag_that_names_no_version_is_a_warning_on_the_tag():
    (finding,) = check_manifest(manifest(repo(tag="release-candidate", package_version="1.0")))
    assert finding == Finding(
        "version-unparsable",
        "warning",
        "repositories[0].tag",
        "the tag 'release-candidate' does not name a PEP 440 version, so it cannot be compared "
        "with the package version '1.0'",
    )


def test_no_package_version_means_no_comparison():
    assert check_manifest(manifest(repo(tag="not-a-version", package_version=None))) == []


def test_dependency_cycle_names_the_cycle():
    findings = check_manifest(
        manifest(
            repo("a", depends_on=("b",)), repo("b", depends_on=("a",)), repo("c", depends_on=("a",))
        )
    )
    assert findings == [
        Finding(
            "dependency-cycle",
            "error",
            "repositories[0].depends_on",
            "circular dependency: a -> b -> a",
        )
    ]


def test_longer_cycle_is_named_in_full_from_its_first_entry():
    findings = check_manifest(
        manifest(
            repo("ok"),
            repo("c", depends_on=("a",)),
            repo("a", depends_on=("ok", "b")),
            repo("b", depends_on=("c",)),
        )
    )
    assert findings == [
        Finding(
            "dependency-cycle",
            "error",
            "repositories[1].depends_on",
            "circular dependency: c -> a -> b -> c",
        )
    ]


def test_self_dependency_is_a_cycle():
    findings = check_manifest(manifest(repo("a"), repo("b", depends_on=("a", "b"))))
    assert findings == [
        Finding(
            "dependency-cycle", "error", "repositories[1].depends_on", "circular dependency: b -> b"
        )
    ]


def test_two_separate_cycles_are_two_findings():
    findings = check_manifest(
        manifest(
            repo("a", depends_on=("b",)),
            repo("b", depends_on=("a",)),
            repo("c", depends_on=("c",)),
        )
    )
    assert [f.message for f in findings] == [
        "circular dependency: a -> b -> a",
        "circular dependency: c -> c",
    ]


def test_a_dependency_chain_without_cycle_has_no_finding():
    chain = [repo(f"r{i}", depends_on=(f"r{i + 1}",)) for i in range(2000)] + [repo("r2000")]
    assert check_manifest(manifest(*chain)) == []


def test_deployed_before_created_is_a_warning():
    findings = check_manifest(
        manifest(
            repo(),
            created_at=at("2025-01-15T10:00:00+00:00"),
            environments={
                # 10:30 at +01:00 is 09:30 UTC: before the release, though the clock says later.
                "staging": EnvironmentEntry("s", at("2025-01-15T10:30:00+01:00")),
                "production": EnvironmentEntry("p", at("2025-01-15T10:00:00+00:00")),
                "qa": EnvironmentEntry("q", None, "planned"),
            },
        )
    )
    assert findings == [
        Finding(
            "deployed-before-created",
            "warning",
            "environments.staging.deployed_at",
            "deployed to staging before the release was created (2025-01-15T10:30:00+01:00 < "
            "2025-01-15T10:00:00+00:00)",
        )
    ]


def test_no_created_at_means_no_deployment_time_check():
    env = {"production": EnvironmentEntry("p", at("2000-01-01T00:00:00+00:00"))}
    assert check_manifest(manifest(repo(), environments=env)) == []


# --- reading: values exactly as written -------------------------------------------------------


def test_status_is_implied_by_deployed_at_when_absent():
    m = parse_manifest(
        textwrap.dedent(
            """\
            version: "2.0"
            environments:
              production:
                deployed_at: "2025-01-20T14:30:00Z"
                namespace: "prod"
              canary:
                namespace: "canary"
              staging:
                namespace: "staging"
                status: "failed"
            repositories:
              - name: "a"
                tag: "v1"
            """
        )
    )
    assert {name: entry.status for name, entry in m.environments.items()} == {
        "production": "deployed",
        "canary": "planned",
        "staging": "failed",
    }
    assert list(m.environments) == ["production", "canary", "staging"]


def test_metadata_is_kept_verbatim_with_its_order_and_types():
    m = parse_manifest(
        textwrap.dedent(
            """\
            version: "2.0"
            repositories:
              - name: "a"
                tag: "v1"
            metadata:
              zeta: 1
              ticket: "REL-1"
              nested: {list: [1, 2.5, true, null, "x"], "key with space": {}}
              notes: "n"
              anything_goes: []
            """
        )
    )
    assert m.metadata == {
        "zeta": 1,
        "ticket": "REL-1",
        "nested": {"list": [1, 2.5, True, None, "x"], "key with space": {}},
        "notes": "n",
        "anything_goes": [],
    }
    assert list(m.metadata) == ["zeta", "ticket", "nested", "notes", "anything_goes"]


@pytest.mark.parametrize(
    "bad",
    [
        'version: "1.4\\n"',
        'version: "1.4 "',
        'version: ".4"',
        'version: ""',
        f'version: "{"9" * 65}"',
    ],
)
def test_version_must_be_a_plain_token(bad):
    (error,) = rejection(bad + '\nrepositories:\n  - name: "a"\n    tag: "v1"\n')
    assert (error.path, error.line, error.code) == ("version", 1, "format")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", '"fogpy\\n"'),
        ("url", '"https://github.com/org/fogpy.git\\n"'),
        ("url", '"git@github.com:org/fogpy.git\\n"'),
    ],
)
def test_a_trailing_newline_is_not_part_of_a_valid_value(field, value):
    text = 'version: "1"\nrepositories:\n  - name: "fogpy"\n    tag: "v1"\n'
    text = (
        text.replace('name: "fogpy"', f"name: {value}")
        if field == "name"
        else text + f"    url: {value}\n"
    )
    (error,) = rejection(text)
    assert error.path == f"repositories[0].{field}"


def test_environment_name_with_a_trailing_newline_is_rejected():
    errors = rejection(
        '{"version": "1", "environments": {"prod\\n": {"namespace": "p"}}, "repositories": '
        '[{"name": "a", "tag": "v1"}]}',
        "json",
    )
    # Quoted in the path, so the newline does not reach the terminal raw.
    assert [e.path for e in errors] == ['environments["prod\\n"]']


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-15T10:00:00Z", "2025-01-15T10:00:00+00:00"),
        ("2025-01-15t10:00:00z", "2025-01-15T10:00:00+00:00"),
        ("2025-01-15 12:00:00+02:00", "2025-01-15T10:00:00+00:00"),
        ("2025-01-15T10:00:00.123456-05:30", "2025-01-15T15:30:00.123456+00:00"),
        ("2025-01-15T10:00:00.1+00:00", "2025-01-15T10:00:00.100000+00:00"),
    ],
)
def test_timestamps_with_an_offset_are_read(text, expected):
    m = parse_manifest(
        f'version: "1"\ncreated_at: "{text}"\nrepositories:\n  - name: "a"\n    tag: "v1"\n'
    )
    assert m.created_at == at(expected)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2025-01-15T10:00:00", "is not an RFC 3339 time with an offset"),
        ("2025-01-15", "is not an RFC 3339 time with an offset"),
        ("2025-01-15T10:00:00Z\n", "is not an RFC 3339 time with an offset"),
        ("2025-01-15T10:00:00.1234567Z", "has more than microsecond precision"),
        ("2025-02-30T10:00:00Z", "is not a valid time"),
        ("0001-01-01T00:30:00+01:00", "is out of range once converted to UTC"),
        ("9999-12-31T23:30:00-01:00", "is out of range once converted to UTC"),
    ],
)
def test_timestamps_that_cannot_be_kept_are_rejected(text, problem):
    errors = rejection(
        json.dumps(
            {"version": "1", "created_at": text, "repositories": [{"name": "a", "tag": "v1"}]}
        ),
        "json",
    )
    assert [(e.path, e.code) for e in errors] == [("created_at", "format")]
    assert problem in errors[0].message


def test_a_nul_character_is_refused_wherever_it_is():
    # PostgreSQL cannot store U+0000 in text; the file is refused with the place named.
    errors = rejection(
        json.dumps(
            {
                "version": "1",
                "created_by": "a\x00b",
                "repositories": [{"name": "a", "tag": "v1", "commit_sha": "\x00"}],
                "metadata": {"notes": "x", "nested": ["\x00"]},
            }
        ),
        "json",
    )
    assert [(e.path, e.code, e.message) for e in errors] == [
        (path, "encoding", "contains a NUL character (U+0000), which cannot be stored")
        for path in ("created_by", "repositories[0].commit_sha", "metadata.nested[0]")
    ]


def test_a_lone_surrogate_is_refused_in_text_and_in_json_escapes():
    text = 'version: "1"\nrepositories:\n  - name: "a"\n    tag: "v1"\n'
    (error,) = rejection("\ud800" + text)
    assert (error.path, error.code) == ("", "encoding")
    assert "lone surrogate" in error.message
    (error,) = rejection(
        '{"version": "1", "created_by": "\\ud800", "repositories": [{"name": "a", "tag": "v1"}]}',
        "json",
    )
    assert (error.path, error.code) == ("created_by", "encoding")


def test_changelog_url_longer_than_can_be_stored_is_refused():
    tree = {
        "version": "1",
        "repositories": [{"name": "a", "tag": "v1"}],
        "metadata": {"changelog_url": "u" * 501},
    }
    (error,) = rejection(json.dumps(tree), "json")
    assert error == Finding(
        "too-long",
        "error",
        "metadata.changelog_url",
        "is 501 characters long; at most 500 are allowed",
    )
    tree["metadata"] = {"changelog_url": "u" * 500}
    assert parse_manifest(json.dumps(tree), format="json").metadata == {"changelog_url": "u" * 500}


# --- the canonical writer ---------------------------------------------------------------------


def test_canonical_yaml_puts_keys_in_contract_order_and_keeps_the_statuses_the_file_wrote():
    # Every key in reverse order, every status spelled out (implied or not): each comes back.
    text = json.dumps(
        {
            "metadata": {"extra": {"b": 1, "a": [True, None]}, "changelog_url": "c", "notes": "n"},
            "repositories": [
                {"depends_on": ["b"], "url": "git@github.com:org/a.git", "tag": "v1", "name": "a"},
                {
                    "package_version": "2",
                    "commit_sha": "abcdef1",
                    "tag": "v2",
                    "name": "b",
                    "depends_on": [],
                },
            ],
            "environments": {
                "production": {
                    "status": "deployed",
                    "namespace": "p",
                    "deployed_at": "2025-01-20T16:30:00+02:00",
                },
                "qa": {"status": "planned", "namespace": "q"},
                "staging": {
                    "status": "in_progress",
                    "namespace": "s",
                    "deployed_at": "2025-01-20T14:30:00.5Z",
                },
                "dev": {"status": "deployed", "namespace": "d"},
                "old": {
                    "status": "planned",
                    "namespace": "o",
                    "deployed_at": "2025-01-01T00:00:00Z",
                },
            },
            "created_by": "me",
            "created_at": "2025-01-15T10:00:00-01:00",
            "version": "1.4",
        }
    )
    m = parse_manifest(text, format="json")
    assert dump_manifest(m, "yaml") == textwrap.dedent(
        """\
        version: "1.4"
        created_at: "2025-01-15T11:00:00Z"
        created_by: "me"
        environments:
          production:
            deployed_at: "2025-01-20T14:30:00Z"
            namespace: "p"
            status: "deployed"
          qa:
            namespace: "q"
            status: "planned"
          staging:
            deployed_at: "2025-01-20T14:30:00.5Z"
            namespace: "s"
            status: "in_progress"
          dev:
            namespace: "d"
            status: "deployed"
          old:
            deployed_at: "2025-01-01T00:00:00Z"
            namespace: "o"
            status: "planned"

        repositories:
          - name: "a"
            tag: "v1"
            commit_sha: null
            package_version: null
            url: "git@github.com:org/a.git"
            depends_on: ["b"]

          - name: "b"
            tag: "v2"
            commit_sha: "abcdef1"
            package_version: "2"

        metadata:
          notes: "n"
          changelog_url: "c"
          extra:
            b: 1
            a:
              - true
              - null
        """
    )
    assert parse_manifest(dump_manifest(m, "yaml")) == m


def test_canonical_json_has_the_same_tree_with_two_space_indent():
    m = parse_manifest(SEED_YAML.read_text(encoding="utf-8"))
    text = dump_manifest(m, "json")
    assert text.startswith('{\n  "version": "1.4",\n  "created_at": "2025-01-15T10:00:00Z",\n')
    assert '      "package_version": null\n' in text
    assert list(json.loads(text)) == [
        "version",
        "created_at",
        "created_by",
        "environments",
        "repositories",
        "metadata",
    ]
    assert parse_manifest(text, format="json") == m


def test_strings_are_double_quoted_and_escaped_so_yaml_reads_them_back():
    notes = (
        'tab\there "quoted" back\\slash \x85 nel \u2028 ls \u2029 ps \x7f del \ufeff bom 😀 \x01 é'
    )
    m = manifest(repo(), metadata={"notes": notes, "yes": "no", "key: colon": "~", "null": "null"})
    text = dump_manifest(m, "yaml")
    assert (
        '  notes: "tab\\there \\"quoted\\" back\\\\slash \\u0085 nel \\u2028 ls \\u2029 ps '
        '\\u007f del \\ufeff bom 😀 \\u0001 é"\n'
    ) in text
    assert '  "yes": "no"\n' in text
    assert '  "key: colon": "~"\n' in text
    assert '  "null": "null"\n' in text
    assert parse_manifest(text) == m
    assert parse_manifest(dump_manifest(m, "json"), format="json") == m


def test_years_before_1000_are_written_with_four_digits():
    m = manifest(repo(), created_at=at("0999-01-01T00:30:00+01:00"))
    text = dump_manifest(m, "yaml")
    assert 'created_at: "0998-12-31T23:30:00Z"\n' in text
    assert parse_manifest(text) == m


def test_floats_that_repr_without_a_dot_stay_floats_in_yaml():
    # repr(1e16) is "1e+16", which YAML 1.1 reads as a string.
    m = manifest(repo(), metadata={"big": 1e16, "small": -1e-05, "plain": 2.5, "int": 10**20})
    text = dump_manifest(m, "yaml")
    assert "  big: 1.0e+16\n  small: -1.0e-05\n  plain: 2.5\n  int: 100000000000000000000\n" in text
    back = parse_manifest(text)
    assert back == m
    assert back.metadata is not None
    assert type(back.metadata["big"]) is float
    assert dump_manifest(back, "yaml") == text


def test_a_key_longer_than_yaml_allows_inline_is_written_explicitly():
    long_key = "k" * 1500
    m = manifest(repo(), metadata={long_key: {"a": 1}, "list": [{long_key: "v"}]})
    text = dump_manifest(m, "yaml")
    assert f"  ? {long_key}\n  :\n    a: 1\n" in text
    assert parse_manifest(text) == m


def test_null_commit_sha_and_package_version_are_written_url_and_depends_on_are_not():
    text = dump_manifest(manifest(repo("a", "v1")), "yaml")
    assert text.endswith(
        '  - name: "a"\n    tag: "v1"\n    commit_sha: null\n    package_version: null\n'
    )
    assert json.loads(dump_manifest(manifest(repo("a", "v1")), "json"))["repositories"] == [
        {"name": "a", "tag": "v1", "commit_sha": None, "package_version": None}
    ]


def test_absent_metadata_and_empty_metadata_stay_apart():
    without = dump_manifest(manifest(repo()), "yaml")
    empty = dump_manifest(manifest(repo(), metadata={}), "yaml")
    assert "metadata" not in without
    assert empty.endswith("\nmetadata: {}\n")
    assert parse_manifest(without).metadata is None
    assert parse_manifest(empty).metadata == {}


@pytest.mark.parametrize(
    "path", [SEED_YAML, EXAMPLES / "v1.3.yaml", EXAMPLES / "v1.5.yaml"], ids=lambda p: p.name
)
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_canonical_text_is_a_fixed_point(path, fmt):
    once = dump_manifest(read_manifest_file(path), fmt)
    assert dump_manifest(parse_manifest(once, format=fmt), fmt) == once


# --- purity -----------------------------------------------------------------------------------


def test_the_codec_imports_no_django():
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys, releases.manifests as "
        "m\nm.check_manifest(m.read_manifest_file(sys.argv[1]))\nprint(sorted(n for n in "
        "sys.modules if n == 'django' or n.startswith('django.')))\nprint(sorted(n for n in "
        "sys.modules if n.startswith('releases')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(SEED_YAML)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    django_modules, releases_modules = result.stdout.splitlines()
    assert django_modules == "[]"
    # The package really was loaded (and not, say, an empty namespace), every part of it.
    for module in ("rules", "located", "yaml_tree", "json_tree", "schema", "reader", "checks"):
        assert f"'releases.manifests.{module}'" in releases_modules


def test_a_metadata_key_ending_in_a_newline_is_quoted_and_round_trips():
    # Found by the property test: a key "A\n" was written bare and broke the YAML.
    manifest = parse_manifest(
        '{"version": "1", "repositories": [{"name": "a", "tag": "v1"}], '
        '"metadata": {"A\\n": null, "plain": 1}}',
        source="m.json",
    )

    text = dump_manifest(manifest)

    assert '"A\\n": null' in text
    assert "\nplain: 1" not in text and "  plain: 1" in text
    assert parse_manifest(text, source="m.yaml") == manifest


def _nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth):
        value = {"k": value}
    return value


def test_yaml_and_json_allow_the_same_nesting_and_each_reads_the_others_export():
    from releases.manifests.rules import MAX_DEPTH

    def document(depth: int) -> dict:
        # document -> metadata -> k ... : the mapping at the bottom sits at `depth`.
        return {
            "version": "1",
            "repositories": [{"name": "a", "tag": "v1"}],
            "metadata": _nested(depth - 2),
        }

    deepest = parse_manifest(json.dumps(document(MAX_DEPTH)), source="deep.json")
    assert parse_manifest(dump_manifest(deepest, "yaml"), source="deep.yaml") == deepest
    assert parse_manifest(dump_manifest(deepest, "json"), source="deep.json") == deepest
    for fmt in ("json", "yaml"):
        text = dump_manifest(deepest, fmt).replace('"leaf": 1', '"leaf": {"x": 1}')
        if fmt == "yaml":
            text = text.replace("leaf: 1", 'leaf: {"x": 1}')
        with pytest.raises(ManifestRejected) as refused:
            parse_manifest(text, source=f"deeper.{fmt}")
        assert refused.value.errors[0].message == f"nested deeper than {MAX_DEPTH} levels"


def test_a_manifest_whose_canonical_form_would_be_over_the_limit_is_refused():
    # Compact JSON with nested metadata: 20 KB as written, far more once indented.
    metadata = [_nested(28) for _ in range(60)]
    text = json.dumps(
        {"version": "1", "repositories": [{"name": "a", "tag": "v1"}], "metadata": {"m": metadata}},
        separators=(",", ":"),
    )
    limit = 50_000
    assert len(text) < limit

    with pytest.raises(ManifestRejected) as refused:
        parse_manifest(text, source="compact.json", max_bytes=limit)

    (error,) = refused.value.errors
    assert error.code == "too-large"
    assert "could not be imported again" in error.message
    # Under a limit its canonical form fits, the same document is read as usual.
    assert parse_manifest(text, source="compact.json", max_bytes=limit * 10).version == "1"


def test_a_very_broken_document_reports_its_first_errors_and_counts_the_rest():
    from releases.manifests.rules import MAX_ERRORS

    text = 'version: "1"\nrepositories:\n' + "".join(
        f'  - {{name: "r{i}", tag: "v1", tga: 1}}\n' for i in range(MAX_ERRORS + 50)
    )

    with pytest.raises(ManifestRejected) as refused:
        parse_manifest(text, source="broken.yaml")

    errors = refused.value.errors
    assert len(errors) == MAX_ERRORS + 1
    assert errors[0].path == "repositories[0].tga"
    assert errors[MAX_ERRORS - 1].path == f"repositories[{MAX_ERRORS - 1}].tga"
    assert (errors[-1].code, errors[-1].message) == (
        "too-many-errors",
        "50 more error(s) not shown",
    )


# --- defects of issue 5 -----------------------------------------------------------------------

MINIMAL = 'version: "1"\nrepositories:\n  - name: "a"\n    tag: "v1"\n'


@pytest.mark.parametrize("key", ["notes", "changelog_url"])
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_null_note_or_changelog_url_is_kept_and_written_back(key, fmt):
    # Metadata is free-form and verbatim: null is a value like any other.
    m = parse_manifest(MINIMAL + f'metadata:\n  {key}: null\n  ticket: "REL-1"\n')
    assert m.metadata == {key: None, "ticket": "REL-1"}

    text = dump_manifest(m, fmt)

    if fmt == "yaml":
        assert text.endswith(f'\nmetadata:\n  {key}: null\n  ticket: "REL-1"\n')
    else:
        assert json.loads(text)["metadata"] == {key: None, "ticket": "REL-1"}
    again = parse_manifest(text, format=fmt)
    assert again == m
    assert dump_manifest(again, fmt) == text


@pytest.mark.parametrize(
    ("key", "path", "found"),
    [
        ("? [1, 2]\n  : x", 'metadata["[1, 2]"]', "a list"),
        ("{a: 1}: x", 'metadata["{a: 1}"]', "a mapping"),
    ],
)
def test_a_key_that_is_a_list_or_mapping_is_located_at_the_key_and_named(key, path, found):
    errors = rejection(MINIMAL + f"metadata:\n  ticket: 1\n  {key}\n")
    # At the key itself (as written) and its line, not at "metadata" on line 5.
    assert [(e.path, e.line, e.message) for e in errors] == [
        (path, 7, f"keys must be strings, found {found}")
    ]


def test_a_scalar_key_that_is_not_a_string_names_its_type():
    errors = rejection(MINIMAL + "metadata:\n  ticket: 1\n  5: x\n  ~: y\n  true: z\n")
    assert [(e.path, e.line, e.message) for e in errors] == [
        ("metadata.5", 7, "keys must be strings, found a number"),
        ("metadata.~", 8, "keys must be strings, found null"),
        ("metadata.true", 9, "keys must be strings, found a boolean"),
    ]


def test_a_duplicate_dotted_key_beside_a_nested_one_points_at_both_occurrences():
    text = MINIMAL + "metadata:\n  a.b: 2\n  a:\n    b: 1\n  a.b: 3\n"
    (error,) = rejection(text)
    assert (error.code, error.path, error.line) == ("duplicate-key", 'metadata["a.b"]', 9)
    assert error.message == "duplicate key 'a.b' (first on line 6)"


def test_a_dotted_key_and_a_nested_key_are_two_places_for_errors():
    # Both refused in their own place: the nested one is not swallowed as "already reported".
    errors = rejection(MINIMAL + "metadata:\n  a.b: yes\n  a:\n    b: on\n")
    assert [(e.path, e.line) for e in errors] == [('metadata["a.b"]', 6), ("metadata.a.b", 8)]


ENVIRONMENTS = (
    'version: "1"\n'
    "environments:\n"
    "  production:\n"
    '    deployed_at: "2025-01-20T14:30:00Z"\n'
    '    namespace: "prod"\n'
    '    status: "deployed"\n'
    "  qa:\n"
    '    namespace: "qa"\n'
    "\n"
    "repositories:\n"
    '  - name: "a"\n'
    '    tag: "v1"\n'
    "    commit_sha: null\n"
    "    package_version: null\n"
)


def test_an_explicit_status_is_remembered_and_written_back():
    m = parse_manifest(ENVIRONMENTS)
    assert m.environments == {
        "production": EnvironmentEntry(
            "prod", at("2025-01-20T14:30:00+00:00"), "deployed", status_explicit=True
        ),
        "qa": EnvironmentEntry("qa", None, "planned", status_explicit=False),
    }
    assert dump_manifest(m, "yaml") == ENVIRONMENTS
    assert json.loads(dump_manifest(m, "json"))["environments"] == {
        "production": {
            "deployed_at": "2025-01-20T14:30:00Z",
            "namespace": "prod",
            "status": "deployed",
        },
        "qa": {"namespace": "qa"},
    }


def test_an_implied_status_that_the_file_did_not_write_is_left_out():
    m = manifest(
        repo(),
        environments={
            "production": EnvironmentEntry("p", at("2025-01-20T14:30:00+00:00"), "deployed"),
            "qa": EnvironmentEntry("q", None, "planned"),
            "dev": EnvironmentEntry("d", None, "deployed"),  # not implied: written
        },
    )
    text = dump_manifest(m, "yaml")
    assert text.count("status:") == 1
    assert '  dev:\n    namespace: "d"\n    status: "deployed"\n' in text


def test_writing_or_dropping_an_implied_status_is_a_change_of_the_environment():
    written = parse_manifest(ENVIRONMENTS)
    left_out = parse_manifest(ENVIRONMENTS.replace('    status: "deployed"\n', ""))

    diff = diff_manifests(left_out, written)

    assert diff.changed
    assert diff.changed_environments == {"production": {"status_explicit": (False, True)}}
    assert diff.summary() == "updated: production status_explicit false -> true"
    assert not diff_manifests(written, parse_manifest(ENVIRONMENTS)).changed


def test_a_new_status_is_one_change_not_two():
    before = parse_manifest(ENVIRONMENTS.replace('    status: "deployed"\n', ""))
    after = parse_manifest(ENVIRONMENTS.replace('status: "deployed"', 'status: "failed"'))

    diff = diff_manifests(before, after)

    assert diff.changed_environments == {"production": {"status": ("deployed", "failed")}}
    assert diff.summary() == "updated: production status deployed -> failed"
    # Built in code, a status that is not implied is explicit: it is always written.
    assert EnvironmentEntry("p", None, "failed").status_explicit is True
    assert EnvironmentEntry("p", None, "planned").status_explicit is False


def test_a_note_that_yaml_reads_as_a_number_is_refused_with_a_hint_to_quote_it():
    (error,) = rejection(MINIMAL + "metadata:\n  notes: 1.5\n")
    assert (error.path, error.line, error.message) == (
        "metadata.notes",
        6,
        'must be a string or null, not a number; quote it ("1.5")',
    )
