"""Exports read plain rows: the same manifests as the model path, in a constant number of
queries whatever the number of pins and releases."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from django.core.management import call_command

from releases.exporting import (
    UnknownRelease,
    export_release,
    export_to_directory,
    load_manifests,
    manifest_for,
    release_to_manifest,
)
from releases.manifests import dump_manifest, parse_manifest
from releases.models import Release

from .manifests import generated_manifest, import_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "manifests"

pytestmark = pytest.mark.django_db


def varied_manifest(pins: int, version: str, seed: int = 7) -> str:
    """A manifest using every optional field somewhere: owner-less and dotted names, null SHAs
    and package versions, URLs, several dependencies in a chosen order, unicode, statuses."""
    rng = random.Random(seed)
    lines = [
        f'version: "{version}"',
        'created_by: "plateforme-équipe"',
        "environments:",
        "  staging:",
        f'    namespace: "staging-{version}"',
        '    status: "in_progress"',
        "  production:",
        '    deployed_at: "2025-03-02T00:00:00.250Z"',
        f'    namespace: "prod-{version}"',
        '    status: "retired"',
        "repositories:",
    ]
    for i in range(pins):
        sha = "null" if i % 17 == 0 else f'"{rng.getrandbits(160):040x}"'
        package = "null" if i % 11 == 0 else f'"2.{i}.0"'
        lines += [f'  - name: "lib.{i:04d}_x"', f'    tag: "v2.{i}.0"']
        lines += [f"    commit_sha: {sha}", f"    package_version: {package}"]
        if i % 5 == 0:
            lines.append(f'    url: "https://gitlab.com/acme/lib.{i:04d}_x.git"')
        if i >= 3 and i % 3 == 0:
            wanted = rng.sample(range(i), 3)
            names = ", ".join(f'"lib.{j:04d}_x"' for j in wanted)
            lines.append(f"    depends_on: [{names}]")
    lines += ["metadata:", '  ticket: "REL-7"', '  notes: "ünïcødé"', "  waves: [1, 2]"]
    return "\n".join(lines) + "\n"


def model_path(version: str):
    return release_to_manifest(Release.objects.with_manifest_data().get(version=version))


def test_rows_and_model_instances_give_the_same_manifests():
    call_command("import_manifest", str(EXAMPLES), verbosity=0)
    import_text(varied_manifest(120, "7.0"), source="v7.0.yaml")
    import_text(generated_manifest(30, "8.0"), source="v8.0.yaml")
    import_text('version: "0.1"\nrepositories:\n  - name: "only"\n    tag: "v0"\n')

    manifests = load_manifests()

    assert [manifest.version for manifest in manifests] == [
        "0.1", "1.2", "1.3", "1.4", "1.5", "7.0", "8.0"
    ]  # fmt: skip
    for manifest in manifests:
        assert manifest == model_path(manifest.version)
        for format in ("yaml", "json"):
            assert export_release(manifest.version, format) == dump_manifest(
                model_path(manifest.version), format
            )
    # And a file's own data comes back.
    assert manifest_for("7.0") == parse_manifest(varied_manifest(120, "7.0"))


def test_versions_come_back_in_the_order_asked_and_unknown_ones_are_named():
    call_command("import_manifest", str(EXAMPLES), verbosity=0)

    assert [m.version for m in load_manifests(["1.4", "1.2", "1.4"])] == ["1.4", "1.2"]
    with pytest.raises(UnknownRelease) as unknown:
        load_manifests(["1.2", "9.9", "0.0"])
    assert unknown.value.versions == ["9.9", "0.0"]
    with pytest.raises(UnknownRelease):
        manifest_for("9.9")


def counted(django_assert_max_num_queries, action, limit: int) -> int:
    with django_assert_max_num_queries(limit) as captured:
        action()
    return len(captured.captured_queries)


def test_exports_take_four_queries_whatever_the_number_of_pins_and_releases(
    tmp_path, django_assert_max_num_queries
):
    import_text(varied_manifest(5, "1.0"), source="v1.0.yaml")
    small = {
        "one release": counted(django_assert_max_num_queries, lambda: export_release("1.0"), 4),
        "all releases": counted(
            django_assert_max_num_queries, lambda: export_to_directory(tmp_path / "a"), 4
        ),
    }
    for number in range(2, 12):
        import_text(varied_manifest(300, f"{number}.0", seed=number), source=f"v{number}.0.yaml")

    large = {
        "one release": counted(
            django_assert_max_num_queries, lambda: export_release("11.0", "json"), 4
        ),
        "all releases": counted(
            django_assert_max_num_queries, lambda: export_to_directory(tmp_path / "b"), 4
        ),
        "some releases": counted(
            django_assert_max_num_queries,
            lambda: export_to_directory(tmp_path / "c", ["3.0", "7.0", "11.0"], "json"),
            4,
        ),
    }

    assert small == {"one release": 4, "all releases": 4}
    assert large == {"one release": 4, "all releases": 4, "some releases": 4}
    assert len(list((tmp_path / "b").iterdir())) == 11
