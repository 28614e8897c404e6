"""Every environment variable the settings read is in the README's settings section."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "config" / "settings"


def variables_read() -> set[str]:
    """The names passed to ``env(...)``, ``env.int(...)`` and the like, found by parsing the
    settings modules (not by running them, so that production's required ones count too)."""
    found: set[str] = set()
    for module in sorted(SETTINGS.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            is_env = (isinstance(func, ast.Name) and func.id == "env") or (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "env"
            )
            first = node.args[0]
            if is_env and isinstance(first, ast.Constant) and isinstance(first.value, str):
                found.add(first.value)
    return found


def settings_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Settings\n")
    return text[start : text.index("\n## ", start + 1)]


def test_the_scan_finds_the_settings_read() -> None:
    assert {"DATABASE_URL", "REGISTRY_CHANGES_MAX_COMMITS", "DJANGO_STATIC_ROOT"} <= (
        variables_read()
    )


def test_every_setting_read_from_the_environment_is_documented() -> None:
    section = settings_section()
    missing = sorted(name for name in variables_read() if f"`{name}`" not in section)
    assert missing == []
