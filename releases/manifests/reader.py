"""Read manifest text (YAML or JSON) into a :class:`Manifest`, or reject it with located errors.

The YAML side composes the node graph itself (safe C parser when available) so that it can
refuse what the usual loaders accept silently: duplicate keys, YAML 1.1 implicit typing that
changes a value (``1.10`` read as ``1.1``, ``yes`` as true, bare dates), merge keys, and alias
expansion beyond a small bound.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import re
from pathlib import Path
from typing import Any

import yaml

from .model import (
    DEPLOYMENT_STATUSES,
    EnvironmentEntry,
    Finding,
    Manifest,
    ManifestRejected,
    RepositoryEntry,
)
from .writer import dump_manifest, format_float

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 32
# A document this broken is reported by its first errors and a count of the rest.
MAX_ERRORS = 100
# Alias expansion may add at most this many nodes (keys and values) beyond the document's own:
# a shared block of 30 keys reused a thousand times, but not a "billion laughs". What aliases
# build is also held to the size limit (characters, and the canonical export).
MAX_ALIAS_EXPANSION = 100_000

TOP_KEYS = ("version", "created_at", "created_by", "environments", "repositories", "metadata")
ENVIRONMENT_KEYS = ("deployed_at", "namespace", "status")
REPOSITORY_KEYS = ("name", "tag", "commit_sha", "package_version", "url", "depends_on")

VERSION_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._+-]{0,63}\Z")
NAME_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,99}\Z")
ENVIRONMENT_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,62}\Z")
NAMESPACE_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,99}\Z")
RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$"
)
URL_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/?#\s]*)(?P<rest>[^\s]*)"
)
# scp-like ``git@host:org/repo.git``: a user name but never a password, no "@" in the path.
SCP_URL_RE = re.compile(
    r"(?:(?P<user>[A-Za-z0-9._-]+)@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^\s@]+)"
)
# Only ssh carries a user name in the URL (``ssh://git@host/...``); anything else in front of an
# "@" is a credential.
USER_SCHEMES = ("ssh", "git+ssh", "ssh+git")
# git check-ref-format, the parts that matter for a tag a user types.
BAD_TAG_RE = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|\.lock$|^-|^/|/$|\.$|^@$")
MAX_TEXT = 255

YAML_BOOL_TEXTS = {"true", "True", "TRUE", "false", "False", "FALSE"}


class _Lossy:
    """A JSON number whose text a float cannot hold exactly (``1.10``, ``1e3``, ``NaN``)."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Pairs(list[tuple[str, Any]]):
    """A JSON object before duplicate keys are checked."""


class _Collector:
    def __init__(self) -> None:
        self.errors: list[Finding] = []
        self.refused: set[str] = set()
        self.not_shown = 0
        self.lines: dict[str, int] = {}
        # For the canonical-size check: how deep the document goes, whether aliases repeat.
        self.max_depth = 0
        self.aliased = False

    def error(self, path: str, message: str, code: str = "invalid") -> None:
        # One error per place: a value already refused while reading is not refused again
        # by the schema ("1.10 would be read as 1.1" needs no "must be a string" after it).
        if path in self.refused:
            return
        self.refused.add(path)
        self.add(Finding(code, "error", path, message, self.lines.get(path)))

    def add(self, finding: Finding) -> None:
        if len(self.errors) >= MAX_ERRORS:
            self.not_shown += 1
        else:
            self.errors.append(finding)


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


# --- YAML -------------------------------------------------------------------------------------

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DEFAULT_TAGS: dict[type[yaml.Node], str] = {
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}
_NULL_TEXTS = frozenset({"", "~", "null", "Null", "NULL"})
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "timestamp")
)
# Numbers longer than this are refused (quote them): no manifest needs them, and Python refuses
# to print integers beyond 4,300 digits anyway.
MAX_NUMBER_DIGITS = 100


class _YamlWalker:
    def __init__(self, out: _Collector, plain_paths: set[str], max_alias_chars: int) -> None:
        self.out = out
        self.plain_paths = plain_paths
        self.seen: set[int] = set()
        self.open: set[int] = set()  # the nodes being walked: a way to spot recursive aliases
        self.alias_nodes = 0
        self.alias_chars = 0
        self.max_alias_chars = max_alias_chars
        # One constructor per document: it caches every object it builds.
        self.constructor = yaml.SafeLoader("")

    def account(self, node: yaml.Node, path: str) -> None:
        """Count a node met again (through an alias, as a value or as a key) and what it repeats."""
        key = id(node)
        if key in self.seen:
            self.out.aliased = True
            self.alias_nodes += 1
            if isinstance(node, yaml.ScalarNode):
                self.alias_chars += len(node.value)
            if self.alias_nodes > MAX_ALIAS_EXPANSION or self.alias_chars > self.max_alias_chars:
                raise _Abort(
                    path, "aliases expand beyond the allowed bound (a YAML bomb?)", "too-large"
                )
        self.seen.add(key)

    def walk(self, node: yaml.Node, path: str) -> Any:
        key = id(node)
        if key in self.open:
            raise _Abort(path, "a recursive alias is not allowed", "alias")
        self.account(node, path)
        depth = len(self.open)
        if depth > MAX_DEPTH:
            raise _Abort(path, f"nested deeper than {MAX_DEPTH} levels", "too-deep")
        self.out.max_depth = max(self.out.max_depth, depth)
        self.out.lines.setdefault(path, node.start_mark.line + 1)
        expected = _DEFAULT_TAGS.get(type(node))
        if expected is None:
            return self.scalar(node, path)
        if node.tag != expected:
            self.out.error(path, f"the YAML tag {node.tag} is not supported", "yaml")
            return None
        self.open.add(key)
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path)
            return [self.walk(item, _join(path, i)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(key)

    def mapping(self, node: yaml.MappingNode, path: str) -> Any:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.out.lines.setdefault(_join(path, "<<"), key_node.start_mark.line + 1)
                self.out.error(_join(path, "<<"), "merge keys (<<) are not supported", "yaml")
                continue
            key_path = (
                _join(path, str(key_node.value)[:40])
                if isinstance(key_node, yaml.ScalarNode)
                else path
            )
            self.account(key_node, key_path)
            self.out.lines.setdefault(key_path, key_node.start_mark.line + 1)
            key = self.scalar(key_node, key_path) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.out.error(key_path, f"keys must be strings, found {_describe(key)}", "type")
                continue
            child = _join(path, key)
            if key in result:
                self.out.add(
                    Finding(
                        "duplicate-key",
                        "error",
                        child,
                        f"duplicate key {key!r} (first on line {self.out.lines.get(child)})",
                        key_node.start_mark.line + 1,
                    )
                )
                continue
            self.out.lines[child] = key_node.start_mark.line + 1
            result[key] = self.walk(value_node, child)
        return result

    def scalar(self, node: yaml.Node, path: str) -> Any:
        tag = node.tag
        text = node.value
        if tag == "tag:yaml.org,2002:str":
            _check_text(text, path, self.out)
            return text
        plain = getattr(node, "style", None) in (None, "")
        if tag == "tag:yaml.org,2002:null":
            if text not in _NULL_TEXTS:
                # An explicit !!null on "hello" would silently throw the text away.
                self.out.error(path, f"{text!r} would be read as null", "coercion")
            self.plain_paths.add(path)
            return None
        if tag not in _SCALAR_TAGS:
            # Refused before anything tries to build it (!!binary, !!python/..., custom tags).
            # A bare "=" is YAML 1.1's value key; the one such implicit type to hint about.
            hint = f'; quote it ("{text}")' if tag == "tag:yaml.org,2002:value" else ""
            self.out.error(path, f"the YAML type {tag} is not supported{hint}", "yaml")
            return None
        if tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and (
            len(text) > MAX_NUMBER_DIGITS
        ):
            self.out.error(
                path,
                f"a number of {len(text)} characters is too long (at most {MAX_NUMBER_DIGITS}); "
                "quote it",
                "too-long",
            )
            return None
        try:
            value = self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.out.error(path, f"cannot read {text!r}: {getattr(exc, 'problem', exc)}", "yaml")
            return None
        except (ValueError, TypeError, KeyError, AttributeError):
            # An explicit tag the text does not fit, such as !!int "1.4".
            self.out.error(path, f"{text!r} cannot be read as {tag}", "yaml")
            return None
        if plain:
            self.plain_paths.add(path)
        hint = f'; quote it ("{text}") to keep it as written'
        if tag == "tag:yaml.org,2002:bool":
            if text not in YAML_BOOL_TEXTS:
                self.out.error(
                    path, f"{text!r} would be read as {str(value).lower()}{hint}", "coercion"
                )
            return value
        if tag == "tag:yaml.org,2002:int":
            if str(value) != text:
                self.out.error(
                    path, f"{text!r} would be read as the number {value}{hint}", "coercion"
                )
            return value
        if tag == "tag:yaml.org,2002:float":
            # The canonical writer's form (format_float) is exact too: "1.0e+16".
            if not math.isfinite(value) or text not in (repr(value), format_float(value)):
                self.out.error(
                    path, f"{text!r} would be read as the number {value!r}{hint}", "coercion"
                )
            return value
        # The timestamp tag: the only one left.
        self.out.error(path, f"{text!r} would be read as a date/time object{hint}", "coercion")
        return text


class _Abort(Exception):
    def __init__(self, path: str, message: str, code: str) -> None:
        self.path, self.message, self.code = path, message, code


def _parse_yaml(text: str, out: _Collector, plain_paths: set[str], max_bytes: int) -> Any:
    try:
        root = yaml.compose(text, Loader=_YAML_LOADER)  # a safe loader: CSafeLoader or SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        out.errors.append(Finding("syntax", "error", "", f"not valid YAML: {exc.problem}", line))
        return None
    except yaml.YAMLError as exc:
        out.errors.append(Finding("syntax", "error", "", f"not valid YAML: {exc}"))
        return None
    if root is None:
        out.errors.append(Finding("empty", "error", "", "the document is empty"))
        return None
    # Aliases may repeat at most as many characters as a whole document may hold: a 100 KB
    # string repeated 2,000 times is a bomb too. (What they build is then held to the size
    # limit in canonical form as well.)
    walker = _YamlWalker(out, plain_paths, max_alias_chars=max_bytes)
    try:
        return walker.walk(root, "")
    except _Abort as abort:
        out.errors.append(
            Finding(abort.code, "error", abort.path, abort.message, out.lines.get(abort.path))
        )
        return None


# --- JSON -------------------------------------------------------------------------------------


def _json_float(text: str) -> float | _Lossy:
    if len(text) > MAX_NUMBER_DIGITS:
        return _Lossy(text)
    value = float(text)
    return value if math.isfinite(value) and repr(value) == text else _Lossy(text)


def _json_int(text: str) -> int | _Lossy:
    # "-0" would come back as 0.
    if len(text) > MAX_NUMBER_DIGITS or text == "-0":
        return _Lossy(text)
    return int(text)


def _parse_json(text: str, out: _Collector) -> Any:
    try:
        raw = json.loads(
            text,
            object_pairs_hook=_Pairs,
            parse_float=_json_float,
            parse_int=_json_int,
            parse_constant=_Lossy,
        )
    except json.JSONDecodeError as exc:
        out.errors.append(
            Finding(
                "syntax", "error", "", f"not valid JSON: {exc.msg} (column {exc.colno})", exc.lineno
            )
        )
        return None
    except RecursionError:
        out.errors.append(Finding("too-deep", "error", "", "nested too deeply"))
        return None
    return _plain_json(raw, "", out, 0)


def _plain_json(value: Any, path: str, out: _Collector, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise _Abort(path, f"nested deeper than {MAX_DEPTH} levels", "too-deep")
    if depth > out.max_depth:
        out.max_depth = depth
    if isinstance(value, _Pairs):
        result: dict[str, Any] = {}
        for key, item in value:
            child = _join(path, key)
            _check_text(key, child, out)
            if key in result:
                out.error(child, f"duplicate key {key!r}", "duplicate-key")
                continue
            result[key] = _plain_json(item, child, out, depth + 1)
        return result
    if isinstance(value, list):
        return [_plain_json(item, _join(path, i), out, depth + 1) for i, item in enumerate(value)]
    if isinstance(value, str):
        _check_text(value, path, out)
        return value
    if isinstance(value, _Lossy):
        if len(value.text) > MAX_NUMBER_DIGITS:
            out.error(
                path,
                f"a number of {len(value.text)} characters is too long "
                f"(at most {MAX_NUMBER_DIGITS}); quote it",
                "too-long",
            )
            return None
        out.error(
            path,
            f'the number {value.text} cannot be kept exactly as written; quote it ("{value.text}")',
            "coercion",
        )
        return None
    return value


# --- the tree ---------------------------------------------------------------------------------


def _check_text(value: str, path: str, out: _Collector) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        out.error(path, "contains an invalid Unicode code point (a lone surrogate)", "encoding")
    # PostgreSQL text cannot hold U+0000: refused here rather than failing the import.
    if "\x00" in value:
        out.error(path, "contains a NUL character (U+0000), which cannot be stored", "encoding")


class _Schema:
    """Turns the plain tree into a Manifest, recording every located error it meets."""

    def __init__(self, out: _Collector, plain_paths: set[str]) -> None:
        self.out = out
        self.plain_paths = plain_paths

    def type_error(self, path: str, value: Any, expected: str) -> None:
        hint = ""
        if path in self.plain_paths and expected == "a string" and value is not None:
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            hint = f'; quote it ("{shown}")'
        self.out.error(path, f"must be {expected}, not {_describe(value)}{hint}", "type")

    def unknown_keys(self, data: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in data:
            if key in allowed:
                continue
            close = (
                difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                or [name for name in allowed if name.startswith(key.lower()[:4])][:1]
            )
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else f"; expected one of {', '.join(allowed)}"
            )
            self.out.error(_join(path, key), f"unknown key {key!r}{hint}", "unknown-key")

    def required(self, data: dict[str, Any], key: str, path: str) -> bool:
        if key not in data:
            self.out.error(
                _join(path, key) if path else key, f"the key {key!r} is required", "missing"
            )
            return False
        return True

    def text(
        self,
        data: dict[str, Any],
        key: str,
        path: str,
        *,
        nullable: bool = True,
        pattern: re.Pattern[str] | None = None,
        rule: str = "",
        max_length: int = MAX_TEXT,
    ) -> str | None:
        where = _join(path, key)
        value = data.get(key)
        if value is None:
            if key in data and not nullable:
                self.type_error(where, value, "a string")
            return None
        if not isinstance(value, str):
            self.type_error(where, value, "a string")
            return None
        if len(value) > max_length:
            self.out.error(
                where,
                f"is {len(value)} characters long; at most {max_length} are allowed",
                "too-long",
            )
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.out.error(where, f"{value!r} is not valid: {rule}", "format")
            return None
        return value

    def timestamp(self, data: dict[str, Any], key: str, path: str) -> dt.datetime | None:
        where = _join(path, key)
        value = self.text(data, key, path, max_length=64)
        if value is None:
            return None
        return parse_timestamp(value, where, self.out)

    def manifest(self, tree: Any) -> Manifest | None:
        if not isinstance(tree, dict):
            self.out.error("", f"the document must be a mapping, not {_describe(tree)}", "type")
            return None
        self.unknown_keys(tree, TOP_KEYS, "")
        version = None
        if self.required(tree, "version", ""):
            version = self.text(
                tree,
                "version",
                "",
                nullable=False,
                pattern=VERSION_RE,
                rule="use letters, digits, '.', '_', '+' and '-' (at most 64), "
                "starting with a letter or digit",
            )
        created_at = self.timestamp(tree, "created_at", "")
        created_by = self.text(tree, "created_by", "", max_length=200)
        environments = self.environments(tree.get("environments"))
        repositories = self.repositories(tree) if self.required(tree, "repositories", "") else None
        metadata = self.metadata(tree.get("metadata"))
        if self.out.errors or version is None or repositories is None:
            return None
        return Manifest(
            version=version,
            repositories=repositories,
            created_at=created_at,
            created_by=created_by,
            environments=environments,
            metadata=metadata,
        )

    def environments(self, value: Any) -> dict[str, EnvironmentEntry]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.type_error("environments", value, "a mapping of environment name to deployment")
            return {}
        result: dict[str, EnvironmentEntry] = {}
        for name, entry in value.items():
            path = _join("environments", name)
            if not ENVIRONMENT_RE.fullmatch(name):
                self.out.error(
                    path,
                    f"{name!r} is not a valid environment name: letters, digits, '_' and '-', "
                    "starting with a letter or digit",
                    "format",
                )
                continue
            if not isinstance(entry, dict):
                self.type_error(path, entry, "a mapping")
                continue
            self.unknown_keys(entry, ENVIRONMENT_KEYS, path)
            namespace = None
            if self.required(entry, "namespace", path):
                namespace = self.text(
                    entry,
                    "namespace",
                    path,
                    nullable=False,
                    pattern=NAMESPACE_RE,
                    rule="letters, digits, '.', '_' and '-', starting with a letter or digit",
                    max_length=100,
                )
            deployed_at = self.timestamp(entry, "deployed_at", path)
            status = self.text(entry, "status", path, max_length=32)
            if status is not None and status not in DEPLOYMENT_STATUSES:
                close = difflib.get_close_matches(status, DEPLOYMENT_STATUSES, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                self.out.error(
                    _join(path, "status"),
                    f"unknown status {status!r}; {hint}one of {', '.join(DEPLOYMENT_STATUSES)}",
                    "choice",
                )
                continue
            if namespace is None:
                continue
            if status is None:
                status = "deployed" if deployed_at is not None else "planned"
            result[name] = EnvironmentEntry(
                namespace=namespace, deployed_at=deployed_at, status=status
            )
        return result

    def repositories(self, tree: dict[str, Any]) -> tuple[RepositoryEntry, ...] | None:
        value = tree["repositories"]
        if not isinstance(value, list):
            self.type_error("repositories", value, "a list")
            return None
        if not value:
            self.out.error("repositories", "at least one repository is required", "missing")
            return None
        names: dict[str, int] = {}
        for index, entry in enumerate(value):
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                first = names.setdefault(entry["name"], index)
                if first != index:
                    self.out.error(
                        f"repositories[{index}].name",
                        f"duplicate repository {entry['name']!r} (also repositories[{first}])",
                        "duplicate",
                    )
        entries = [
            self.repository(entry, f"repositories[{i}]", names) for i, entry in enumerate(value)
        ]
        if any(entry is None for entry in entries):
            return None
        return tuple(entry for entry in entries if entry is not None)

    def repository(self, entry: Any, path: str, names: dict[str, int]) -> RepositoryEntry | None:
        if not isinstance(entry, dict):
            self.type_error(path, entry, "a mapping")
            return None
        self.unknown_keys(entry, REPOSITORY_KEYS, path)
        name = tag = None
        if self.required(entry, "name", path):
            name = self.text(
                entry,
                "name",
                path,
                nullable=False,
                pattern=NAME_RE,
                rule="letters, digits, '.', '_' and '-' (at most 100), "
                "starting with a letter or digit",
            )
        if self.required(entry, "tag", path):
            tag = self.text(entry, "tag", path, nullable=False)
            problem = git_tag_problem(tag) if tag is not None else None
            if problem is not None:
                self.out.error(_join(path, "tag"), problem, "format")
                tag = None
        commit_sha = self.text(entry, "commit_sha", path)
        package_version = self.text(entry, "package_version", path, max_length=100)
        url = self.url(entry, path)
        depends_on = self.depends_on(entry, path, name, names)
        if name is None or tag is None or depends_on is None:
            return None
        return RepositoryEntry(
            name=name,
            tag=tag,
            commit_sha=commit_sha,
            package_version=package_version,
            url=url,
            depends_on=depends_on,
        )

    def url(self, entry: dict[str, Any], path: str) -> str | None:
        where = _join(path, "url")
        value = self.text(entry, "url", path, max_length=500)
        if value is None:
            return None
        problem = git_url_problem(value)
        if problem is not None:
            self.out.error(where, problem[1], problem[0])
            return None
        return value

    def depends_on(
        self, entry: dict[str, Any], path: str, name: str | None, names: dict[str, int]
    ) -> tuple[str, ...] | None:
        where = _join(path, "depends_on")
        value = entry.get("depends_on")
        if value is None:
            return ()
        if not isinstance(value, list):
            self.type_error(where, value, "a list of repository names")
            return None
        result: list[str] = []
        ok = True
        for i, item in enumerate(value):
            item_path = _join(where, i)
            if not isinstance(item, str):
                self.type_error(item_path, item, "a string")
                ok = False
            elif item not in names:
                close = difflib.get_close_matches(item, list(names), n=1, cutoff=0.6)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.out.error(
                    item_path,
                    f"{item!r} is not a repository of this manifest{hint}",
                    "unknown-reference",
                )
                ok = False
            elif item in result:
                self.out.error(item_path, f"{item!r} is listed twice", "duplicate")
                ok = False
            else:
                result.append(item)
        return tuple(result) if ok else None

    def metadata(self, value: Any) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.type_error("metadata", value, "a mapping")
            return None
        for key in ("notes", "changelog_url"):
            if key in value and not isinstance(value[key], str):
                self.type_error(_join("metadata", key), value[key], "a string")
        # Stored in a column of its own, as long as a pin's url.
        changelog_url = value.get("changelog_url")
        if isinstance(changelog_url, str) and len(changelog_url) > 500:
            self.out.error(
                "metadata.changelog_url",
                f"is {len(changelog_url)} characters long; at most 500 are allowed",
                "too-long",
            )
        return value


def parse_metadata_json(text: str) -> dict[str, Any]:
    """A metadata mapping given as JSON text (the admin's "other metadata"), under the
    manifest's rules: exact numbers, no duplicate keys, no NUL; else :class:`ManifestRejected`."""
    out = _Collector()
    tree = _parse_json(text, out)
    if not out.errors and not isinstance(tree, dict):
        out.error("", f"must be a JSON object (a mapping), not {_describe(tree)}", "type")
    if out.errors:
        raise ManifestRejected("metadata", out.errors)
    return tree  # type: ignore[no-any-return]


def git_url_problem(value: str) -> tuple[str, str] | None:
    """Why ``value`` is not an acceptable git URL, as ``(code, message)``; ``None`` if it is.

    Credentials are refused in every form and never repeated in the message.
    """
    credentials = (
        "credentials must not be written into the URL; give them per host through "
        "REGISTRY_GIT_CREDENTIALS"
    )
    match = URL_RE.fullmatch(value)
    if match:
        userinfo, _, host = match["authority"].rpartition("@")
        if "@" in match["authority"] and (
            ":" in userinfo or match["scheme"].lower() not in USER_SCHEMES
        ):
            return "credentials", credentials
        if not host and match["scheme"].lower() != "file":
            return "format", f"{redact_url(value)!r} has no host"
        return None
    if SCP_URL_RE.fullmatch(value):
        return None
    if "@" in value:
        return "credentials", credentials
    return "format", f"{value!r} is not a git URL (scheme://host/path or user@host:path)"


def git_tag_problem(value: str) -> str | None:
    """Why ``value`` is not a valid git tag name; ``None`` if it is."""
    if not value or BAD_TAG_RE.search(value):
        return f"{value!r} is not a valid git tag name"
    return None


def redact_url(url: str) -> str:
    """The URL with anything before an "@" in its authority replaced by ``***``."""
    match = URL_RE.fullmatch(url)
    if match and "@" in match["authority"]:
        host = match["authority"].rpartition("@")[2]
        return f"{match['scheme']}://***@{host}{match['rest']}"
    return url


def parse_timestamp(value: str, path: str, out: _Collector | None = None) -> dt.datetime | None:
    """Parse an RFC 3339 timestamp with an offset; at most microsecond precision."""
    match = RFC3339_RE.fullmatch(value)
    problem = None
    if not match:
        problem = f'{value!r} is not an RFC 3339 time with an offset, e.g. "2025-01-15T10:00:00Z"'
    elif match.group(7) and len(match.group(7)) > 6:
        problem = f"{value!r} has more than microsecond precision"
    else:
        try:
            iso = value.upper().replace(" ", "T").replace("Z", "+00:00")
            parsed = dt.datetime.fromisoformat(iso)
        except ValueError as exc:
            problem = f"{value!r} is not a valid time: {exc}"
        else:
            try:
                # Stored and written in UTC: a time that has no UTC equivalent (year 1 or 9999
                # with an offset) cannot be kept, nor compared with another.
                parsed.astimezone(dt.UTC)
            except OverflowError:
                problem = f"{value!r} is out of range once converted to UTC"
            else:
                return parsed
    if out is not None:
        out.error(path, problem, "format")
    return None


def _detect_format(text: str, source: str) -> str:
    suffix = Path(source).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".yaml", ".yml"):
        return "yaml"
    return "json" if text.lstrip().startswith("{") else "yaml"


def parse_manifest(
    data: str | bytes,
    *,
    source: str = "<manifest>",
    format: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Manifest:
    """Parse manifest text; raise :class:`ManifestRejected` listing every located error."""
    size = len(data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data)
    if size > max_bytes:
        raise ManifestRejected(
            source,
            [Finding("too-large", "error", "", f"{size} bytes is over the limit of {max_bytes}")],
        )
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ManifestRejected(
                source, [Finding("encoding", "error", "", f"not UTF-8 text (byte {exc.start})")]
            ) from None
    else:
        try:
            data.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ManifestRejected(
                source,
                [
                    Finding(
                        "encoding",
                        "error",
                        "",
                        "contains an invalid Unicode code point (a lone surrogate) "
                        f"at character {exc.start}",
                    )
                ],
            ) from None
        text = data
    out = _Collector()
    plain_paths: set[str] = set()
    kind = format or _detect_format(text, source)
    if kind not in ("yaml", "json"):
        raise ValueError(f"unknown manifest format {kind!r}")
    try:
        tree = (
            _parse_json(text, out)
            if kind == "json"
            else _parse_yaml(text, out, plain_paths, max_bytes)
        )
    except _Abort as abort:
        out.errors.append(Finding(abort.code, "error", abort.path, abort.message))
        tree = None
    manifest = _Schema(out, plain_paths).manifest(tree) if tree is not None else None
    if out.not_shown:
        message = f"{out.not_shown} more error(s) not shown"
        out.errors.append(Finding("too-many-errors", "error", "", message))
    if out.errors or manifest is None:
        raise ManifestRejected(
            source, out.errors or [Finding("invalid", "error", "", "not a manifest")]
        )
    # Written out canonically (indented, quoted), a compact document grows: a 2-byte "0," at
    # depth d becomes a line of 2d + 4 bytes, an escaped character takes 6 bytes for 2. Only a
    # document that could outgrow the limit, or repeats itself through aliases, is written out
    # to measure.
    growth = 2 * out.max_depth + 6
    if out.aliased or size * growth > max_bytes:
        _check_canonical_size(manifest, kind, source, max_bytes)
    return manifest


def _check_canonical_size(manifest: Manifest, kind: str, source: str, max_bytes: int) -> None:
    """Refuse what could be imported once but not again: its export (in the format it came
    in) over the size limit."""
    size = len(dump_manifest(manifest, kind).encode("utf-8"))
    if size > max_bytes:
        message = (
            f"written out as canonical {kind.upper()} this manifest is {size} bytes, over "
            f"the limit of {max_bytes}, so it could not be imported again"
        )
        raise ManifestRejected(source, [Finding("too-large", "error", "", message)])


def read_manifest_file(path: Path | str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Manifest:
    """Read and parse one manifest file."""
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > max_bytes:
            raise ManifestRejected(
                str(path),
                [
                    Finding(
                        "too-large", "error", "", f"{size} bytes is over the limit of {max_bytes}"
                    )
                ],
            )
        data = file.read_bytes()
    except OSError as exc:
        raise ManifestRejected(
            str(path), [Finding("unreadable", "error", "", exc.strerror or str(exc))]
        ) from None
    return parse_manifest(data, source=str(path), max_bytes=max_bytes)
