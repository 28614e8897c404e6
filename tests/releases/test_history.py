"""Any past state of a release can be rebuilt from its history."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from releases.exporting import export_release
from releases.history import manifest_as_of
from releases.manifests import dump_manifest, parse_manifest

from .manifests import RELEASE_1_4, generated_manifest, import_text

pytestmark = pytest.mark.django_db


def test_the_release_as_it_was_between_two_imports():
    before_anything = timezone.now()
    import_text(RELEASE_1_4)
    between = timezone.now()
    edited = (
        RELEASE_1_4.replace('tag: "v2.6.1"', 'tag: "v2.6.2"')
        .replace('"2.6.1"', '"2.6.2"')
        .replace('  notes: "Production release"\n', '  notes: "Hotfix"\n')
        .replace(
            '    namespace: "prod-v1.4"\n',
            '    namespace: "prod-v1.4"\n  staging:\n    namespace: "staging-v1.4"\n',
        )
    )
    edited = edited.replace('        depends_on: ["fogpy"]\n', "")
    edited_manifest = parse_manifest(edited)
    # Drop the last pin as well: removals must be undone by the reconstruction too.
    edited_manifest = replace(edited_manifest, repositories=edited_manifest.repositories[:2])
    import_text(dump_manifest(edited_manifest))

    assert manifest_as_of("1.4", before_anything) is None
    assert manifest_as_of("1.4", between) == parse_manifest(RELEASE_1_4)
    assert manifest_as_of("1.4", timezone.now()) == edited_manifest
    assert dump_manifest(edited_manifest) == export_release("1.4")


def test_reconstruction_takes_the_same_queries_for_10_and_200_pins():
    def measure(pins: int) -> int:
        import_text(generated_manifest(pins, f"{pins}.0"))
        with CaptureQueriesContext(connection) as captured:
            manifest = manifest_as_of(f"{pins}.0", timezone.now() + dt.timedelta(seconds=1))
        assert manifest is not None
        assert len(manifest.repositories) == pins
        return len(captured.captured_queries)

    assert measure(10) == measure(200) == 6


def test_export_as_of_answers_for_a_moment_in_the_past(capsys):
    import_text(RELEASE_1_4)
    between = timezone.now()
    import_text(RELEASE_1_4.replace('tag: "v3.1.0"', 'tag: "v3.1.1"').replace('"3.1.0"', '"3.1.1"'))

    call_command("export_manifest", "1.4", "--as-of", between.isoformat())

    assert capsys.readouterr().out == dump_manifest(parse_manifest(RELEASE_1_4))


def test_export_as_of_before_the_release_existed_exits_1_and_bad_times_exit_2():
    import_text(RELEASE_1_4)

    with pytest.raises(CommandError) as missing:
        call_command("export_manifest", "1.4", "--as-of", "2001-01-01T00:00:00Z")
    assert missing.value.returncode == 1
    assert "did not exist at 2001-01-01T00:00:00Z" in str(missing.value)
    with pytest.raises(CommandError) as bad:
        call_command("export_manifest", "1.4", "--as-of", "yesterday")
    assert bad.value.returncode == 2
