"""Imports and exports make the same number of queries for 10 pins as for 500."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from releases.exporting import export_release

from .manifests import generated_manifest, import_text

pytestmark = pytest.mark.django_db


def queries(action) -> int:
    with CaptureQueriesContext(connection) as captured:
        action()
    return len(captured.captured_queries)


def scenario(pins: int) -> dict[str, int]:
    version = f"{pins}.0"
    return {
        "create": queries(lambda: import_text(generated_manifest(pins, version))),
        "unchanged": queries(lambda: import_text(generated_manifest(pins, version))),
        "update every pin": queries(
            lambda: import_text(generated_manifest(pins, version, tag_suffix=".post1"))
        ),
        "shrink to half": queries(lambda: import_text(generated_manifest(pins // 2, version))),
        "export": queries(lambda: export_release(version)),
    }


def test_query_count_does_not_grow_with_the_number_of_pins():
    # Both runs find the environments already in the catalogue (creating them costs 3 queries).
    import_text(generated_manifest(1, "0.0"))
    small = scenario(10)
    large = scenario(500)

    assert large == small
    # And the numbers stay small: a regression to per-pin queries would show here first.
    assert small["create"] <= 30
    assert small["unchanged"] <= 6
    assert small["export"] <= 4
