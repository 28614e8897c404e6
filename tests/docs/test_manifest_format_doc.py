"""docs/manifest-format.md lists every finding and error code the code can produce, and no
code the code no longer has, and every promotion rule name (the ``rule`` of the gate's answer,
named in each ``promotion-refused`` message): the codes and rules are gathered from the source,
not from a list kept by hand."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from releases.manifests.checks import OFFLINE_CODES
from releases.validation.checks import ONLINE_CODES

ROOT = Path(__file__).resolve().parent.parent.parent
DOC = ROOT / "docs" / "manifest-format.md"
PROMOTION_RULES = ROOT / "releases" / "promotion" / "rules.py"
SOURCES = ("releases", "registry", "config")
CODE = re.compile(r"[a-z]+(?:-[a-z]+)*")


def _text(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def codes_in_source() -> dict[str, set[str]]:
    """Every finding code a module writes, with the modules writing it:

    * ``Finding("<code>", ...)``;
    * ``<collector>.error(path, message, "<code>")`` and ``Abort(path, message, "<code>")``;
    * a ``code="<code>"`` argument or parameter default (the collector's ``"invalid"``);
    * ``return "<code>", message`` in a ``*_problem`` rule (``git_url_problem``).
    """
    found: dict[str, set[str]] = {}

    def add(code: str | None, path: Path) -> None:
        if code is not None and CODE.fullmatch(code):
            found.setdefault(code, set()).add(str(path.relative_to(ROOT)))

    for source in SOURCES:
        for path in sorted((ROOT / source).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Call):
                    func = node.func
                    name = getattr(func, "id", None) or getattr(func, "attr", None)
                    if name == "Finding" and node.args:
                        add(_text(node.args[0]), path)
                    if name in ("error", "Abort") and len(node.args) >= 3:
                        add(_text(node.args[2]), path)
                    for keyword in node.keywords:
                        if keyword.arg == "code" and name != "ValidationError":
                            add(_text(keyword.value), path)
                elif isinstance(node, ast.FunctionDef):
                    arguments = node.args.args[len(node.args.args) - len(node.args.defaults) :]
                    for argument, default in zip(arguments, node.args.defaults, strict=True):
                        if argument.arg == "code":
                            add(_text(default), path)
                    if node.name.endswith("_problem"):
                        for inner in ast.walk(node):
                            if (
                                isinstance(inner, ast.Return)
                                and isinstance(inner.value, ast.Tuple)
                                and len(inner.value.elts) == 2
                            ):
                                add(_text(inner.value.elts[0]), path)
    return found


def codes_in_doc() -> set[str]:
    """The codes in the first column of the tables of "Rejections" and "Findings" (the
    promotion rules' table is names inside messages, not codes)."""
    text = DOC.read_text().split("## Rejections", 1)[1].split("## Canonical form", 1)[0]
    before, _, after = text.partition("### Promotion rules")
    text = before + after.partition("## Findings")[2]
    return set(re.findall(r"^\| `([a-z-]+)` \|", text, flags=re.MULTILINE))


def rules_in_source() -> set[str]:
    """The rule of every ``RuleResult(RULE, ...)`` the promotion rules build, ``RULE`` being
    a module constant (``SOAK = "soak-time"``) or a literal."""
    tree = ast.parse(PROMOTION_RULES.read_text(), str(PROMOTION_RULES))
    constants = {
        target.id: value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and (value := _text(node.value)) is not None
    }
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "RuleResult":
            first = node.args[0]
            name = constants.get(first.id) if isinstance(first, ast.Name) else _text(first)
            assert name is not None, ast.unparse(first)
            found.add(name)
    return found


def rules_in_doc() -> set[str]:
    text = DOC.read_text().split("### Promotion rules", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z-]+)` \|", text, flags=re.MULTILINE))


def test_the_source_scan_finds_the_known_codes() -> None:
    # The scan is not vacuous: it sees the checks' own lists and the reader's rejections.
    found = set(codes_in_source())
    assert found >= OFFLINE_CODES | ONLINE_CODES
    assert {
        "syntax",
        "coercion",
        "duplicate-key",
        "unknown-key",
        "credentials",
        "conflict",
    } <= found


def test_every_code_in_the_source_is_documented() -> None:
    found = codes_in_source()
    missing = {code: sorted(paths) for code, paths in found.items() if code not in codes_in_doc()}
    assert not missing, f"codes missing from {DOC.name}: {missing}"


def test_every_documented_code_exists() -> None:
    stale = codes_in_doc() - set(codes_in_source())
    assert not stale, f"{DOC.name} documents codes the code no longer has: {sorted(stale)}"


def test_offline_and_online_checks_are_in_their_own_sections() -> None:
    text = DOC.read_text()
    offline = text.split("### Offline checks", 1)[1].split("### Online checks", 1)[0]
    online = text.split("### Online checks", 1)[1].split("## Canonical form", 1)[0]
    assert set(re.findall(r"^\| `([a-z-]+)` \|", offline, flags=re.MULTILINE)) == OFFLINE_CODES
    assert set(re.findall(r"^\| `([a-z-]+)` \|", online, flags=re.MULTILINE)) == ONLINE_CODES


def test_every_promotion_rule_is_documented_and_no_other() -> None:
    found = rules_in_source()
    # Not vacuous: the six rules of the policy.
    assert {
        "upstream",
        "soak-time",
        "valid-pins",
        "reachable-pins",
        "freeze-window",
        "approvals",
    } <= found
    assert rules_in_doc() == found


def test_a_promotion_refusal_is_documented_with_its_location() -> None:
    # What an import prints for a refusal: the code, located at environments.<name>.
    section = DOC.read_text().split("### Promotion refusals", 1)[1].split("### Promotion rules")[0]
    assert ": environments.production: error: " in section
    assert "[promotion-refused]" in section
