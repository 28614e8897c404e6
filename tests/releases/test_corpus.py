"""Must show (issue 5): releases shaped like a large real one — 500 ``org/name`` pins each, and
one of ``group/subgroup/name`` pins — import as a folder, export byte for byte and re-import as
"unchanged", with query counts that do not grow with the number of pins."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.manifests import check_manifest, parse_manifest
from releases.manifests.rules import repository_name_problem
from releases.models import Release

from .corpus import generate_corpus, nested_release, write_corpus


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_corpus_is_realistic_and_valid():
    releases = [*generate_corpus(releases=3, pins=500), nested_release()]
    assert [m.version for m in releases] == ["2.0", "2.1", "2.2", "3.0"]
    for manifest in releases:
        names = [entry.name for entry in manifest.repositories]
        assert len(set(names)) == len(names)
        assert all(repository_name_problem(name) is None for name in names)
        assert all(len(entry.commit_sha or "") == 40 for entry in manifest.repositories)
        assert any(entry.depends_on for entry in manifest.repositories)
        assert check_manifest(manifest) == []
    org_names = [entry.name for entry in releases[0].repositories]
    assert len(org_names) == 500
    assert all(name.count("/") == 1 for name in org_names)
    nested = [entry.name for entry in releases[3].repositories]
    assert all(name.count("/") >= 2 for name in nested)
    tags = [entry.tag for m in releases for entry in m.repositories]
    assert any(tag.startswith("v") for tag in tags)
    assert any(tag.startswith("nova-") for tag in tags)  # "<name>-<version>"
    # Successive releases share most repositories and move some pins on.
    first, second = (set((e.name, e.tag) for e in m.repositories) for m in releases[:2])
    assert 400 < len(first & second) < 500


@pytest.mark.django_db(transaction=False)
def test_a_folder_of_large_releases_imports_exports_byte_for_byte_and_reimports_unchanged(
    tmp_path: Path,
):
    manifests = [*generate_corpus(releases=4, pins=500), nested_release()]
    folder = tmp_path / "manifests"
    paths = write_corpus(folder, manifests)

    out = run("import_manifest", str(folder))

    lines = out.splitlines()
    for path, manifest in zip(paths, manifests, strict=True):
        pins = len(manifest.repositories)
        assert f"{path}: {manifest.version} created ({pins} pins, 4 deployments)" in lines
    assert lines[-1] == "imported 5 manifest(s): 5 created, 0 updated, 0 unchanged"
    assert Release.objects.count() == 5

    for path, manifest in zip(paths, manifests, strict=True):
        exported = run("export_manifest", manifest.version)
        assert exported == path.read_text(encoding="utf-8"), manifest.version
        assert parse_manifest(exported, source=path.name) == manifest

    again = run("import_manifest", str(folder)).splitlines()
    pairs = zip(paths, manifests, strict=True)
    assert again == [
        *(f"{path}: {manifest.version} unchanged" for path, manifest in pairs),
        "imported 5 manifest(s): 0 created, 0 updated, 5 unchanged",
    ]


def _queries(*args: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        run(*args)
    return len(captured.captured_queries)


@pytest.mark.django_db
def test_the_import_makes_no_more_queries_for_500_pins_than_for_50(
    tmp_path: Path, django_assert_max_num_queries
):
    (small,) = write_corpus(tmp_path / "small", generate_corpus(releases=1, pins=50, seed=1))
    (large,) = write_corpus(
        tmp_path / "large",
        [replace(manifest, version="4.0") for manifest in generate_corpus(pins=500, seed=2)[:1]],
    )
    created_small = _queries("import_manifest", str(small))
    unchanged_small = _queries("import_manifest", str(small))

    with django_assert_max_num_queries(created_small):
        run("import_manifest", str(large))
    with django_assert_max_num_queries(unchanged_small):
        run("import_manifest", str(large))
    with django_assert_max_num_queries(_queries("export_manifest", "2.0")):
        run("export_manifest", "4.0")
