"""The example manifests and the seed's own examples, through the database and back."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from releases.exporting import export_release, release_to_manifest
from releases.manifests import dump_manifest, read_manifest_file
from releases.models import EnvironmentDeployment, Release

from .manifests import import_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "manifests"
SEED = ROOT / "tests" / "fixtures" / "seed"
EXAMPLE_FILES = sorted(path for path in EXAMPLES.rglob("*") if path.suffix in (".yaml", ".json"))

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda path: str(path.relative_to(EXAMPLES)))
def test_every_example_comes_back_byte_for_byte(path: Path):
    call_command("import_manifest", str(path), stdout=open("/dev/null", "w"))  # noqa: SIM115
    manifest = read_manifest_file(path)

    exported = export_release(manifest.version, "json" if path.suffix == ".json" else "yaml")

    assert exported == path.read_text(encoding="utf-8")


def test_the_examples_folder_loads_with_side_by_side_production_deployments(capsys):
    call_command("import_manifest", str(EXAMPLES))

    out = capsys.readouterr().out
    assert "v1.4.yaml: 1.4 created" in out
    live = (
        EnvironmentDeployment.objects.filter(environment__name="production", status="deployed")
        .order_by("namespace")
        .values_list("namespace", flat=True)
    )
    assert list(live) == ["prod-v1.2", "prod-v1.3", "prod-v1.4"]


def test_seed_yaml_as_written_and_its_json_twin_are_the_same_release():
    import_text((SEED / "release-manifest.yaml").read_text(), source="seed.yaml")
    from_yaml = release_to_manifest(Release.objects.with_manifest_data().get())

    result = import_text((EXAMPLES / "json" / "v1.4.json").read_text(), source="v1.4.json")

    assert result.action == "unchanged"
    assert release_to_manifest(Release.objects.with_manifest_data().get()) == from_yaml
    # Exporting the seed gives the seed without its comments and with nothing invented.
    assert export_release("1.4") == (EXAMPLES / "v1.4.yaml").read_text()


def test_seed_yaml_imports_with_findings_for_its_placeholder_shas():
    result = import_text((SEED / "release-manifest.yaml").read_text(), source="seed.yaml")

    assert [(f.code, f.path) for f in result.findings] == [
        ("sha-malformed", "repositories[1].commit_sha"),
        ("sha-malformed", "repositories[2].commit_sha"),
        ("sha-malformed", "repositories[3].commit_sha"),
    ]


def test_the_seeds_short_json_example_imports_as_written():
    text = (SEED / "short-example.json").read_text()

    result = import_text(text, source="short.json")

    assert result.action == "created"
    assert result.findings == []
    exported = read_manifest_file(SEED / "short-example.json")
    assert dump_manifest(exported, "json") == export_release("1.4", "json")
