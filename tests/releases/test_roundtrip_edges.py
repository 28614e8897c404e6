"""Edge values of a manifest (floats at their limits, unicode, empty and nested metadata,
explicit status, offsets and microseconds) survive import, export, re-import and an admin
save without edits, byte for byte."""

from __future__ import annotations

import pytest
import yaml
from django.test import Client
from django.urls import reverse

from releases.exporting import export_release
from releases.importing import import_manifest
from releases.manifests import dump_manifest, parse_manifest
from releases.models import EnvironmentDeployment, Release, RepositoryPin

from ..admin_forms import post_back

pytestmark = pytest.mark.django_db

BASE = """version: "1.0"
repositories:
  - name: "org/a"
    tag: "v1"
    commit_sha: null
    package_version: null
"""

CASES = {
    "neg0": BASE + "metadata:\n  x: -0.0\n",
    "bigfloat": BASE + "metadata:\n  x: 1.0e+300\n",
    "tinyfloat": BASE + "metadata:\n  x: 5.0e-324\n",
    "emptykey": BASE + 'metadata:\n  "": 1\n',
    "nested_empty": BASE + "metadata:\n  x: [[], {}, [[]]]\n",
    "notes_null_order": BASE + 'metadata:\n  ticket: "T"\n  notes: "n"\n',
    "notes_empty": BASE + 'metadata:\n  notes: ""\n',
    "changelog_null": BASE + "metadata:\n  changelog_url: null\n  notes: null\n",
    "emptymeta": BASE + "metadata: {}\n",
    "unicode": BASE + 'metadata:\n  "\u00e9": "\u2028x\U0001f600"\n',
    "bool_key_quoted": BASE + 'metadata:\n  "yes": true\n',
    "int_big": BASE + "metadata:\n  x: 123456789012345678901234567890\n",
    "created_by_empty": 'version: "1.0"\ncreated_by: ""\n' + BASE.split("\n", 1)[1],
    "envs_no_deployed": 'version: "1.0"\nenvironments:\n  prod:\n    namespace: "p"\n'
    + BASE.split("\n", 1)[1],
    "micro": 'version: "1.0"\ncreated_at: "2025-01-15T10:00:00.123456Z"\n' + BASE.split("\n", 1)[1],
    "offset": 'version: "1.0"\ncreated_at: "2025-01-15T10:00:00+05:30"\n' + BASE.split("\n", 1)[1],
    "sha_upper": BASE.replace("commit_sha: null", 'commit_sha: "ABCDEF1"'),
    "created_by_space": 'version: "1.0"\ncreated_by: " x "\n' + BASE.split("\n", 1)[1],
    "pv_empty": BASE.replace("package_version: null", 'package_version: ""'),
    "sha_empty": BASE.replace("commit_sha: null", 'commit_sha: ""'),
    "sha_missing": BASE.replace("    commit_sha: null\n", ""),
    "nested_meta_null": BASE + "metadata:\n  a:\n    b: null\n",
    "depends_self": BASE + '    depends_on: ["org/a"]\n',
    "status_explicit": 'version: "1.0"\nenvironments:\n  prod:\n    namespace: "p"\n'
    + '    status: "deployed"\n'
    + BASE.split("\n", 1)[1],
}


@pytest.fixture
def staff(client: Client, django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("admin", "admin@example.invalid", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize("name", sorted(CASES))
def test_export_reads_back_as_imported_and_reimports_unchanged(name: str) -> None:
    manifest = parse_manifest(CASES[name], source="x.yaml")
    import_manifest(manifest, source="x.yaml")

    exported = export_release("1.0")

    assert parse_manifest(exported, source="out.yaml") == manifest, exported
    assert yaml.safe_load(exported) == yaml.safe_load(dump_manifest(manifest)), exported
    assert parse_manifest(export_release("1.0", "json"), source="out.json") == manifest
    again = import_manifest(parse_manifest(exported, source="o.yaml"), source="o.yaml")
    assert again.action == "unchanged", again.diff.as_dict()


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_canonical_form_exports_byte_for_byte(name: str, fmt: str) -> None:
    canonical = dump_manifest(parse_manifest(CASES[name], source="x.yaml"), fmt)
    import_manifest(parse_manifest(canonical, source="c." + fmt), source="c." + fmt)

    assert export_release("1.0", fmt) == canonical


@pytest.mark.parametrize("name", sorted(CASES))
def test_admin_save_without_edits_changes_nothing(name: str, staff: Client) -> None:
    import_manifest(parse_manifest(CASES[name], source="x.yaml"), source="x.yaml")
    before = export_release("1.0")
    revision = Release.objects.get().revision

    page = reverse("admin:releases_release_change", args=[Release.objects.get().pk])
    assert post_back(staff, page).status_code == 302
    for pin in RepositoryPin.objects.all():
        page = reverse("admin:releases_repositorypin_change", args=[pin.pk])
        assert post_back(staff, page).status_code == 302
    for deployment in EnvironmentDeployment.objects.all():
        page = reverse("admin:releases_environmentdeployment_change", args=[deployment.pk])
        assert post_back(staff, page).status_code == 302

    assert export_release("1.0") == before
    assert Release.objects.get().revision == revision
