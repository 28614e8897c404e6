"""``field__any_of``: the same rows as ``field__in`` on every database."""

from __future__ import annotations

from typing import Any

import pytest

from releases.models import Release, RepositoryPin
from tests.releases.manifests import generated_manifest, import_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def releases() -> list[Release]:
    for version in ("1.0", "1.1", "2.0"):
        import_text(generated_manifest(3, version=version))
    return list(Release.objects.order_by("pk"))


def ids(queryset) -> list[int]:
    return sorted(queryset.values_list("pk", flat=True))


@pytest.mark.parametrize("wanted", [[], [0], [1], [0, 2], [0, 1, 2], [0, None], [None]], ids=repr)
def test_any_of_selects_what_in_selects(releases: list[Release], wanted: list) -> None:
    values: Any = [None if at is None else releases[at].pk for at in wanted]
    pins = RepositoryPin.objects.all()
    assert ids(pins.filter(release_id__any_of=values)) == ids(pins.filter(release_id__in=values))
    assert ids(pins.filter(release__any_of=values)) == ids(pins.filter(release__in=values))
    assert ids(Release.objects.exclude(pk__any_of=values)) == ids(
        Release.objects.exclude(pk__in=values)
    )
    assert ids(Release.objects.filter(version__any_of=["1.1", "9.9"])) == [releases[1].pk]


def test_any_of_in_an_update_writes_only_those_rows(releases: list[Release]) -> None:
    chosen = [releases[0].pk, releases[2].pk]
    count = RepositoryPin.objects.filter(release_id__any_of=chosen).update(package_version="9")
    assert count == 6
    assert set(
        RepositoryPin.objects.filter(package_version="9").values_list("release_id", flat=True)
    ) == set(chosen)
