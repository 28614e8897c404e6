"""Properties of the manifest codec over generated manifests.

(a) the canonical text of a manifest reads back as the same manifest and is a fixed point;
(b) a manifest written by other tools (``json.dumps``, ``yaml.safe_dump``) reads as intended;
(c) import then export through the commands gives back the same manifest and the same bytes;
(d) whatever a file is mangled into, the reader answers with a manifest or located errors.
"""

import datetime as dt
import io
import json
import re
import string
import tempfile
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from releases.manifests import (
    DEPLOYMENT_STATUSES,
    EnvironmentEntry,
    Finding,
    Manifest,
    ManifestRejected,
    RepositoryEntry,
    check_manifest,
    dump_manifest,
    parse_manifest,
)
from releases.manifests.rules import (
    BAD_TAG_RE,
    ENVIRONMENT_RE,
    MAX_REPOSITORY_NAME,
    NAMESPACE_RE,
    VERSION_RE,
    repository_name_problem,
)

# --- strategies -------------------------------------------------------------------------------

# Characters YAML must escape or treats specially, mixed into every generated string.
AWKWARD = "\x85\u2028\u2029\t\r\n\"'\\\x01\x07\x1b\x7f\x9f\ufeff\ufffe\uffff :#&*!|>%@`-?{}[],😀é中"
TEXT = st.text(
    # No U+0000 (refused, PostgreSQL cannot store it) and no lone surrogates (not UTF-8).
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00") | st.sampled_from(AWKWARD),
    max_size=12,
)
# Strings that look like something else to a YAML 1.1 reader.
LOOKALIKES = st.sampled_from([
    "yes", "No", "on", "OFF", "y", "null", "~", "", "1.10", "010", "0x1F", "1e3", ".inf",
    "2025-01-15", "2025-01-15T10:00:00Z", "12:30:00", "<<", "=", "- x", "? x", "a: b", "#c", "&a",
    "*a", "!!str",
])  # fmt: skip
STRINGS = TEXT | LOOKALIKES
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | STRINGS
)
METADATA_KEYS = STRINGS.filter(lambda key: key not in ("notes", "changelog_url"))
JSON_VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(METADATA_KEYS, children, max_size=3)
    ),
    max_leaves=8,
)

VERSIONS = st.from_regex(VERSION_RE, fullmatch=True)
# Names as git hosts spell them: ``fogpy``, ``org/name``, ``group/subgroup/name``; segments may
# start with "." or "_" and hold dots ("x.y", "...").
SEGMENTS = st.from_regex(r"[0-9A-Za-z._][0-9A-Za-z._-]{0,15}", fullmatch=True).filter(
    lambda segment: segment not in (".", "..")
)
NAMES = (
    st.lists(SEGMENTS, min_size=1, max_size=4)
    .map("/".join)
    .filter(lambda name: len(name) <= MAX_REPOSITORY_NAME and not repository_name_problem(name))
)
ENVIRONMENT_NAMES = st.from_regex(ENVIRONMENT_RE, fullmatch=True)
NAMESPACES = st.from_regex(NAMESPACE_RE, fullmatch=True)
TAGS = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc", "Zs"))
    | st.sampled_from("v.-/_0123456789"),
    min_size=1,
    max_size=30,
).filter(lambda tag: not BAD_TAG_RE.search(tag))
HEX_SHAS = st.text(alphabet="0123456789abcdefABCDEF", min_size=7, max_size=40) | st.text(
    alphabet="0123456789abcdef", min_size=64, max_size=64
)
SHAS = st.none() | HEX_SHAS | TEXT  # malformed SHAs are findings, not rejections
PACKAGE_VERSIONS = (
    st.none()
    | st.from_regex(r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}((a|b|rc)[0-9])?", fullmatch=True)
    | TEXT
)
HOSTS = st.sampled_from(["github.com", "gitlab.com", "127.0.0.1:8080", "git.example.org"])
URL_PATHS = st.text(
    alphabet=string.ascii_letters + string.digits + "._-/~é", min_size=1, max_size=20
)
URLS = st.one_of(
    st.builds("https://{}/{}.git".format, HOSTS, URL_PATHS),
    st.builds("ssh://git@{}/{}".format, HOSTS, URL_PATHS),
    st.builds("git@{}:{}".format, st.sampled_from(["github.com", "gitlab.com"]), URL_PATHS),
)
OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1)


@st.composite
def timestamps(draw) -> tuple[str, dt.datetime]:
    """An RFC 3339 text and the time it means: any offset, 0 to 6 fraction digits."""
    offset = dt.timedelta(minutes=draw(OFFSETS))
    zone = dt.timezone(offset)
    # A day's margin at both ends keeps every time representable in UTC.
    naive = draw(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)))
    digits = draw(st.text(alphabet=string.digits, max_size=6))
    moment = naive.replace(microsecond=int(digits.ljust(6, "0")) if digits else 0, tzinfo=zone)
    text = moment.replace(tzinfo=None, microsecond=0).isoformat(sep=draw(st.sampled_from("Tt ")))
    if digits:
        text += "." + digits
    if offset == dt.timedelta(0) and draw(st.booleans()):
        text += draw(st.sampled_from("Zz"))
    else:
        sign = "-" if offset < dt.timedelta(0) else "+"
        minutes = abs(offset) // dt.timedelta(minutes=1)
        text += f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
    return text, moment


def shuffled(draw, mapping: dict) -> dict:
    """The same mapping with its keys in a drawn order: the reader must not care."""
    keys = draw(st.permutations(list(mapping)))
    return {key: mapping[key] for key in keys}


@st.composite
def manifests(draw, *, through_database: bool = False) -> tuple[dict, Manifest]:
    """A valid manifest as a plain tree, and the Manifest it must read as.

    ``through_database``: the tree goes through the database too (import, export), which must
    keep all of it.
    """
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    entries, repositories = [], []
    for name in names:
        entry = {"name": name, "tag": draw(TAGS)}
        commit_sha = package_version = url = None
        depends_on: list[str] = []
        if draw(st.booleans()):
            entry["commit_sha"] = commit_sha = draw(SHAS)
        if draw(st.booleans()):
            entry["package_version"] = package_version = draw(PACKAGE_VERSIONS)
        if draw(st.booleans()):
            entry["url"] = url = draw(URLS)
        if draw(st.booleans()):
            # Any entry, this one included: cycles are findings, not errors.
            entry["depends_on"] = depends_on = draw(
                st.lists(st.sampled_from(names), unique=True, max_size=3)
            )
        entries.append(shuffled(draw, entry))
        repositories.append(
            RepositoryEntry(name, entry["tag"], commit_sha, package_version, url, tuple(depends_on))
        )

    environments, expected_environments = {}, {}
    for env_name in draw(st.lists(ENVIRONMENT_NAMES, unique=True, max_size=3)):
        item = {"namespace": draw(NAMESPACES)}
        deployed_at = None
        if draw(st.booleans()):
            item["deployed_at"], deployed_at = draw(timestamps())
        status = "deployed" if deployed_at else "planned"
        explicit = draw(st.booleans())
        if explicit:
            item["status"] = draw(st.sampled_from(DEPLOYMENT_STATUSES))
            status = item.get("status", status)
        environments[env_name] = shuffled(draw, item)
        expected_environments[env_name] = EnvironmentEntry(
            item["namespace"], deployed_at, status, status_explicit=explicit
        )

    tree = {"version": draw(VERSIONS), "repositories": entries}
    created_at = created_by = metadata = None
    if draw(st.booleans()):
        tree["created_at"], created_at = draw(timestamps())
    if draw(st.booleans()):
        tree["created_by"] = created_by = draw(STRINGS)
    if environments or draw(st.booleans()):
        tree["environments"] = environments
    if draw(st.booleans()):
        metadata = draw(st.dictionaries(METADATA_KEYS, JSON_VALUES, max_size=4))
        for key in ("notes", "changelog_url"):
            if draw(st.booleans()):
                # Free-form: null is kept as written too.
                metadata[key] = draw(st.none() | STRINGS)
        tree["metadata"] = metadata = shuffled(draw, metadata)
    expected = Manifest(
        version=tree["version"],
        repositories=tuple(repositories),
        created_at=created_at,
        created_by=created_by,
        environments=expected_environments,
        metadata=metadata,
    )
    return shuffled(draw, tree), expected


def safe_dump(tree: dict, draw_style) -> str:
    """The tree as another tool writes YAML: PyYAML's dumper, block or flow style.

    Not ``allow_unicode``: with it PyYAML writes U+0085 raw inside a single-quoted scalar,
    where every YAML reader (PyYAML's own included) folds it into a space.
    """
    return yaml.safe_dump(tree, allow_unicode=False, sort_keys=False, default_flow_style=draw_style)


def assert_is_canonical_fixed_point(manifest: Manifest) -> None:
    for fmt in ("yaml", "json"):
        text = dump_manifest(manifest, fmt)
        again = parse_manifest(text, source=f"canonical.{fmt}", format=fmt)
        assert again == manifest
        assert dump_manifest(again, fmt) == text


# --- (a) and (b): the pure codec --------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(manifests())
def test_canonical_text_reads_back_as_the_same_manifest(generated):
    _, manifest = generated
    assert_is_canonical_fixed_point(manifest)


@settings(max_examples=150, deadline=None)
@given(manifests(), st.booleans(), st.booleans())
def test_manifests_written_by_other_tools_read_as_their_tree(generated, ascii_only, flow_style):
    tree, expected = generated
    as_json = json.dumps(tree, ensure_ascii=ascii_only, indent=None if flow_style else 2)
    assert parse_manifest(as_json, source="other.json") == expected
    as_yaml = safe_dump(tree, flow_style)
    assert parse_manifest(as_yaml, source="other.yaml") == expected
    assert parse_manifest(as_yaml.encode("utf-8"), source="other.yaml") == expected
    assert_is_canonical_fixed_point(parse_manifest(as_yaml, source="other.yaml"))


# --- (c): through the database ----------------------------------------------------------------


class _RollBack(Exception):
    """Raised to undo one example's writes; the test database stays as it was."""


@pytest.mark.django_db
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(manifests(through_database=True), st.sampled_from(["yaml", "json"]))
def test_import_then_export_gives_back_the_manifest(generated, fmt):
    _, manifest = generated
    text = dump_manifest(manifest, fmt)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"manifest.{fmt}"
        path.write_text(text, encoding="utf-8")
        try:
            with transaction.atomic():
                call_command(
                    "import_manifest", str(path), stdout=io.StringIO(), stderr=io.StringIO()
                )
                exported = {}
                for out_fmt in ("yaml", "json"):
                    out = io.StringIO()
                    call_command(
                        "export_manifest", manifest.version, "--format", out_fmt, stdout=out
                    )
                    exported[out_fmt] = out.getvalue()
                raise _RollBack
        except _RollBack:
            pass
    for out_fmt, exported_text in exported.items():
        assert parse_manifest(exported_text, format=out_fmt) == manifest
        assert exported_text == dump_manifest(manifest, out_fmt)


# --- (d): mangled input -----------------------------------------------------------------------

# Snippets inserted at random places: YAML indicators, tags, anchors, directives, odd code points.
NASTY = [
    ":", ": ", "-", "- ", '"', "'", "\\", "*a", "*b", "&a ", "&a [*a]", "!!binary ", "!!float ",
    "!!python/object:os.system ", "? ", "{", "}", "[", "]", ",", "#", "|", ">", "@", "`", "0x",
    "%YAML 1.1\n", "---\n", "...\n", "\t", "\n", "\n  ", "\x00", "\ufeff", "\x85", "\u2028",
    "\ud800", '"\\ud800"', "yes", "1.10", "010", "2025-01-01", "null", "~", "<<: *a", "1e999",
    "NaN", "-Infinity", "1.0e+16",
]  # fmt: skip
# Values put after a key: other types, implicitly typed scalars, broken structure.
REPLACEMENT_VALUES = [
    "yes", "on", "1.10", "010", "0o17", "2025-01-15", "2025-01-15T10:00:00Z", "null", "~", "[]",
    "{}", "5", "-1", "1e3", ".nan", "true", '""', "*a", "-", "[a, [b]]", "{a: 1, a: 2}",
    '"\\u2028"', "&a x", "!!str 1", "? k", "&a [*a]", '"x"\n  extra: 1', "|\n  block",
    ">-\n  folded",
]  # fmt: skip


@st.composite
def mutated(draw) -> tuple[str | bytes, str]:
    """A valid manifest's text after one to five random edits; the text and its format."""
    tree, manifest = draw(manifests())
    fmt = draw(st.sampled_from(["yaml", "json"]))
    style = draw(st.sampled_from(["canonical", "other"]))
    if style == "canonical":
        text = dump_manifest(manifest, fmt)
    elif fmt == "json":
        text = json.dumps(tree, indent=2)
    else:
        text = safe_dump(tree, draw(st.booleans()))
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        lines = text.split("\n")
        op = draw(
            st.sampled_from(
                [
                    "delete",
                    "insert",
                    "replace",
                    "drop-line",
                    "dup-line",
                    "swap-lines",
                    "new-value",
                    "indent",
                    "cut",
                ]
            )
        )
        at = draw(st.integers(min_value=0, max_value=len(text)))
        line = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        if op == "delete":
            text = text[:at] + text[at + draw(st.integers(min_value=1, max_value=8)) :]
        elif op == "insert":
            text = text[:at] + draw(st.sampled_from(NASTY) | TEXT) + text[at:]
        elif op == "replace":
            text = text[:at] + draw(st.sampled_from(NASTY) | TEXT) + text[at + 1 :]
        elif op == "drop-line":  # drops a key, an entry's first line, a bracket...
            del lines[line]
            text = "\n".join(lines)
        elif op == "dup-line":  # duplicate keys, duplicate entries
            lines.insert(line, lines[line])
            text = "\n".join(lines)
        elif op == "swap-lines":
            other = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[line], lines[other] = lines[other], lines[line]
            text = "\n".join(lines)
        elif op == "new-value":  # another type or an implicitly typed value after a key
            head, colon, _ = lines[line].partition(": ")
            if colon:
                lines[line] = f"{head}: {draw(st.sampled_from(REPLACEMENT_VALUES))}"
                text = "\n".join(lines)
        elif op == "indent":
            lines[line] = draw(st.sampled_from(["", " ", "  ", "    ", "\t"])) + lines[line].lstrip(
                " "
            )
            text = "\n".join(lines)
        else:
            text = text[:at]
    if draw(st.booleans()):
        data = text.encode("utf-8", "surrogatepass")
        if data and draw(st.booleans()):
            at = draw(st.integers(min_value=0, max_value=len(data) - 1))
            data = (
                data[:at] + bytes([draw(st.integers(min_value=0, max_value=255))]) + data[at + 1 :]
            )
        return data, fmt
    return text, fmt


# A path names one place: keys joined by ".", indexes as [n], keys that could be misread quoted.
_PATH_STEP = r"""(?:[^\s.\[\]"'\\\x00-\x1f\x7f-\x9f\u2028\u2029]+|\[\d+\]|\["(?:[^"\\]|\\.)*"\])"""
PATH_RE = re.compile(rf"{_PATH_STEP}(?:\.?{_PATH_STEP})*")
# The errors about the document as a whole, which have no path.
DOCUMENT_CODES = {"syntax", "encoding", "empty", "too-large", "too-many-errors", "type", "too-deep"}
# Errors at a path that has no line of its own: a key that is missing, or a place reached
# through an alias (whose node carries the anchor's line, so none is given).
UNLINED_CODES = {"missing", "too-large", "alias", "too-deep"}


YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def assert_located(rejected: ManifestRejected, data: str | bytes, fmt: str) -> None:
    """Every error is a located error: a path that names a place (or a document-level code),
    a line inside the text, and for YAML a line wherever the place was written."""
    assert rejected.errors, "a rejection without a reason"
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    # Lines as YAML counts them: \r, \x85, \u2028 and \u2029 break lines too.
    line_count = len(YAML_LINE_BREAK.split(text)) if fmt == "yaml" else text.count("\n") + 1
    for error in rejected.errors:
        assert isinstance(error, Finding)
        assert error.severity == "error"
        assert error.message.strip()
        if error.path:
            assert PATH_RE.fullmatch(error.path), error
        else:
            # The document as a whole, or its root value at a line (a bare "=" or "yes").
            assert error.code in DOCUMENT_CODES or error.line is not None, error
        if error.line is not None:
            # A syntax error can be found just past the last line (the end of the input).
            assert 1 <= error.line <= line_count + 1, error
        elif fmt == "yaml" and error.path and error.code not in UNLINED_CODES:
            raise AssertionError(f"a YAML error at a written place has no line: {error}")
        assert error.format(rejected.source) in str(rejected)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(mutated(), st.booleans())
@example(("\ud800" + dump_manifest(Manifest("1", (RepositoryEntry("a", "v1"),))), "yaml"), False)
@example(('{"version": "1", "version": "1", "repositories": []}', "json"), True)
@example(('!!float version: "0"\nrepositories: [{name: a, tag: v}]', "yaml"), True)
@example(('version: !!bool "1.4"\nrepositories: [{name: a, tag: v}]', "yaml"), True)
def test_mangled_manifests_are_read_or_rejected_with_located_errors(mangled, name_the_format):
    text, fmt = mangled
    options = {"format": fmt} if name_the_format else {"source": f"mangled.{fmt}"}
    try:
        manifest = parse_manifest(text, **options)
    except ManifestRejected as rejected:
        assert_located(rejected, text, fmt)
        return
    findings = check_manifest(manifest)
    for finding in findings:
        assert isinstance(finding, Finding)
        assert finding.severity in ("error", "warning")
        assert finding.code and finding.message.strip()
        assert PATH_RE.fullmatch(finding.path), finding
    # Whatever was accepted can be written out canonically and reads back the same.
    assert_is_canonical_fixed_point(manifest)


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200), st.sampled_from(["yaml", "json"]))
def test_arbitrary_input_is_read_or_rejected(data, fmt):
    assume(data)
    try:
        manifest = parse_manifest(data, format=fmt)
    except ManifestRejected as rejected:
        assert_located(rejected, data, fmt)
    else:
        check_manifest(manifest)
