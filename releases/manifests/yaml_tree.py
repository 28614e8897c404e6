"""YAML text to the plain tree (dicts, lists, str, int, float, bool, None), or located errors.

Composes the node graph itself (safe C parser when available) so that it can refuse what the
usual loaders accept silently: duplicate keys, YAML 1.1 implicit typing that changes a value
(``1.10`` read as ``1.1``, ``yes`` as true, bare dates), merge keys, and alias expansion beyond
a small bound.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from .located import Abort, Collector, check_text, describe, join
from .model import Finding
from .rules import MAX_ALIAS_EXPANSION, MAX_DEPTH, MAX_NUMBER_DIGITS
from .writer import format_float

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DEFAULT_TAGS: dict[type[yaml.Node], str] = {
    yaml.MappingNode: "tag:yaml.org,2002:map",
    yaml.SequenceNode: "tag:yaml.org,2002:seq",
}
_NULL_TEXTS = frozenset({"", "~", "null", "Null", "NULL"})
_BOOL_TEXTS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}" for name in ("bool", "int", "float", "timestamp")
)
# How much of a key's text a path shows.
_KEY_IN_PATH = 40


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class _YamlWalker:
    def __init__(
        self, text: str, out: Collector, plain_paths: set[str], max_alias_chars: int
    ) -> None:
        self.text = text
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
                raise Abort(
                    path, "aliases expand beyond the allowed bound (a YAML bomb?)", "too-large"
                )
        self.seen.add(key)

    def walk(self, node: yaml.Node, path: str) -> Any:
        key = id(node)
        if key in self.open:
            raise Abort(path, "a recursive alias is not allowed", "alias")
        self.account(node, path)
        depth = len(self.open)
        if depth > MAX_DEPTH:
            raise Abort(path, f"nested deeper than {MAX_DEPTH} levels", "too-deep")
        self.out.max_depth = max(self.out.max_depth, depth)
        self.out.lines.setdefault(path, _line(node))
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
            return [self.walk(item, join(path, i)) for i, item in enumerate(node.value)]
        finally:
            self.open.discard(key)

    def key_text(self, node: yaml.Node) -> str:
        """How a key reads in a path: a scalar's value, else the key as the file spells it."""
        if isinstance(node, yaml.ScalarNode):
            return str(node.value)[:_KEY_IN_PATH]
        written = self.text[node.start_mark.index : node.end_mark.index]
        return " ".join(written.split())[:_KEY_IN_PATH]

    def mapping(self, node: yaml.MappingNode, path: str) -> Any:
        result: dict[str, Any] = {}
        # Where each key of this mapping was first written: by key, not by path, since a
        # dotted key ("a.b") and a nested one (a: {b: ...}) must not share a line.
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                where = join(path, "<<")
                self.out.error(where, "merge keys (<<) are not supported", "yaml", _line(key_node))
                continue
            key_path = join(path, self.key_text(key_node))
            self.account(key_node, key_path)
            self.out.lines.setdefault(key_path, _line(key_node))
            if isinstance(key_node, yaml.ScalarNode):
                key = self.scalar(key_node, key_path)
                found = describe(key)
            else:
                # A list or mapping as a key, named as what it is (never built: it is refused).
                key = None
                found = "a list" if isinstance(key_node, yaml.SequenceNode) else "a mapping"
            if not isinstance(key, str):
                self.out.error(key_path, f"keys must be strings, found {found}", "type")
                continue
            child = join(path, key)
            if key in first_lines:
                self.out.add(
                    Finding(
                        "duplicate-key",
                        "error",
                        child,
                        f"duplicate key {key!r} (first on line {first_lines[key]})",
                        _line(key_node),
                    )
                )
                continue
            first_lines[key] = _line(key_node)
            self.out.lines[child] = _line(key_node)
            result[key] = self.walk(value_node, child)
        return result

    def scalar(self, node: yaml.Node, path: str) -> Any:
        tag = node.tag
        text = node.value
        if tag == "tag:yaml.org,2002:str":
            check_text(text, path, self.out)
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
            problem = getattr(exc, "problem", exc)
            self.out.error(path, f"cannot read {text!r}: {problem}", "yaml")
            return None
        except (ValueError, TypeError, KeyError, AttributeError):
            # An explicit tag the text does not fit, such as !!int "1.4".
            self.out.error(path, f"{text!r} cannot be read as {tag}", "yaml")
            return None
        if plain:
            self.plain_paths.add(path)
        hint = f'; quote it ("{text}") to keep it as written'
        if tag == "tag:yaml.org,2002:bool":
            if text not in _BOOL_TEXTS:
                message = f"{text!r} would be read as {str(value).lower()}{hint}"
                self.out.error(path, message, "coercion")
            return value
        if tag == "tag:yaml.org,2002:int":
            if str(value) != text:
                message = f"{text!r} would be read as the number {value}{hint}"
                self.out.error(path, message, "coercion")
            return value
        if tag == "tag:yaml.org,2002:float":
            # The canonical writer's form (format_float) is exact too: "1.0e+16".
            if not math.isfinite(value) or text not in (repr(value), format_float(value)):
                message = f"{text!r} would be read as the number {value!r}{hint}"
                self.out.error(path, message, "coercion")
            return value
        # The timestamp tag: the only one left.
        message = f"{text!r} would be read as a date/time object{hint}"
        self.out.error(path, message, "coercion")
        return text


def parse_yaml_tree(text: str, out: Collector, plain_paths: set[str], max_bytes: int) -> Any:
    """The document's plain tree, ``None`` when it cannot be read (the errors are in ``out``).

    ``plain_paths`` receives the paths of unquoted scalars, so that a type error can hint to
    quote the value.
    """
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
    walker = _YamlWalker(text, out, plain_paths, max_alias_chars=max_bytes)
    try:
        return walker.walk(root, "")
    except Abort as abort:
        out.errors.append(
            Finding(abort.code, "error", abort.path, abort.message, out.lines.get(abort.path))
        )
        return None
