"""A status the file wrote comes back, though it is the implied one (CONTRACT §1, issue 5):
through the database, an import then an export gives the same bytes and a re-import changes
nothing; a file that drops the key is an update."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

WRITTEN = textwrap.dedent(
    """\
    version: "5.0"
    environments:
      production:
        deployed_at: "2025-01-20T14:30:00Z"
        namespace: "prod-v5.0"
        status: "deployed"
      qa:
        namespace: "qa-v5.0"
        status: "planned"
      staging:
        namespace: "staging-v5.0"

    repositories:
      - name: "openstack/nova"
        tag: "nova-27.1.0"
        commit_sha: "0123456789abcdef0123456789abcdef01234567"
        package_version: "27.1.0"
    """
)


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_an_explicit_implied_status_is_exported_and_reimports_unchanged(tmp_path: Path):
    path = tmp_path / "v5.0.yaml"
    path.write_text(WRITTEN, encoding="utf-8")
    run("import_manifest", str(path))

    assert run("export_manifest", "5.0") == WRITTEN
    assert run("import_manifest", str(path)).splitlines()[0] == f"{path}: 5.0 unchanged"


def test_dropping_the_key_is_an_update_and_the_export_follows(tmp_path: Path):
    path = tmp_path / "v5.0.yaml"
    path.write_text(WRITTEN, encoding="utf-8")
    run("import_manifest", str(path))
    dropped = WRITTEN.replace('    status: "deployed"\n', "")
    path.write_text(dropped, encoding="utf-8")

    out = run("import_manifest", str(path))

    assert out.splitlines()[0] == f"{path}: 5.0 updated: production status_explicit true -> false"
    assert run("export_manifest", "5.0") == dropped
