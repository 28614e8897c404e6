"""One truth for a pin's state, whatever the write path."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.forms import modelform_factory
from django.utils import timezone

from releases.models import PinMoved, Release, RepositoryPin
from releases.pin_state import state_of

from .manifests import RELEASE_1_4, import_text

pytestmark = pytest.mark.django_db

UNREACHABLE = {
    "code": "unreachable",
    "severity": "error",
    "path": "repositories[0].url",
    "message": "https://github.com/org/fogpy.git could not be reached",
}
WARNING = {"code": "version-unparsable", "severity": "warning", "path": "", "message": "w"}
ERROR = {"code": "tag-missing", "severity": "error", "path": "", "message": "e"}


@pytest.mark.parametrize(
    ("findings", "checked", "state"),
    [
        ([], False, "unchecked"),
        ([], True, "valid"),
        ([WARNING], True, "warning"),
        ([WARNING, ERROR], True, "invalid"),
        ([ERROR, UNREACHABLE], True, "unreachable"),
        ([UNREACHABLE], False, "unreachable"),
    ],
)
def test_the_state_follows_from_the_findings(findings, checked: bool, state: str):
    assert state_of(findings, checked_online=checked) == state


def mark_unreachable(name: str = "fogpy") -> None:
    RepositoryPin.objects.filter(repository__name=name).update(
        findings=[UNREACHABLE], validation_state="unreachable", validated_at=timezone.now()
    )


def test_a_reimport_keeps_an_unreachable_pin_unreachable():
    import_text(RELEASE_1_4)
    mark_unreachable()

    # Another pin changes, so every pin's offline findings are recomputed.
    result = import_text(
        RELEASE_1_4.replace('tag: "v3.1.0"', 'tag: "v3.1.1"').replace('"3.1.0"', '"3.1.1"')
    )

    assert result.action == "updated"
    pin = RepositoryPin.objects.get(repository__name="fogpy")
    assert (pin.validation_state, pin.findings) == ("unreachable", [UNREACHABLE])


def test_a_reimport_with_a_new_url_forgets_that_the_old_one_was_unreachable():
    import_text(RELEASE_1_4)
    mark_unreachable()

    import_text(
        RELEASE_1_4.replace(
            '    package_version: "2.6.1"\n',
            '    package_version: "2.6.1"\n    url: "https://gitlab.com/org/fogpy.git"\n',
        )
    )

    pin = RepositoryPin.objects.get(repository__name="fogpy")
    assert (pin.validation_state, pin.findings, pin.validated_at) == ("unchecked", [], None)


def test_a_tag_change_saved_on_the_model_resets_online_results():
    import_text(RELEASE_1_4)
    RepositoryPin.objects.update(validation_state="valid", validated_at=timezone.now())
    pin = RepositoryPin.objects.get(repository__name="fogpy_utils")

    pin.tag = "v1.4.3"
    pin.save()

    pin.refresh_from_db()
    assert (pin.validated_at, pin.validation_state) == (None, "invalid")
    # The offline check caught the package version that no longer matches the tag.
    assert [f["code"] for f in pin.findings] == ["version-mismatch"]
    untouched = RepositoryPin.objects.get(repository__name="fogpy")
    assert untouched.validation_state == "valid"


def test_a_save_that_leaves_tag_commit_and_url_keeps_online_results():
    import_text(RELEASE_1_4)
    mark_unreachable()
    pin = RepositoryPin.objects.get(repository__name="fogpy")

    pin.position = 5
    pin.save()

    pin.refresh_from_db()
    # Kept, and located where the pin is now: last of three.
    moved = {**UNREACHABLE, "path": "repositories[2].url"}
    assert (pin.validation_state, pin.findings) == ("unreachable", [moved])


def test_a_pin_cannot_change_release():
    import_text(RELEASE_1_4)
    import_text(RELEASE_1_4.replace('version: "1.4"', 'version: "1.5"'))
    other = Release.objects.get(version="1.5")
    pin = RepositoryPin.objects.get(release__version="1.4", repository__name="chempipe-plugins")

    pin.release = other
    with pytest.raises(ValidationError) as refused:
        pin.full_clean()
    assert "one release for life" in str(refused.value.message_dict["release"])
    with pytest.raises(PinMoved):
        pin.save()

    assert RepositoryPin.objects.filter(release__version="1.4").count() == 3


def test_validation_state_cannot_be_set_through_a_form_or_by_hand():
    import_text(RELEASE_1_4)
    form_class = modelform_factory(RepositoryPin, fields="__all__")
    assert not {"validation_state", "findings", "validated_at"} & set(form_class.base_fields)
    pin = RepositoryPin.objects.get(repository__name="fogpy")

    pin.validation_state = "valid"
    pin.save()

    pin.refresh_from_db()
    assert pin.validation_state == "unchecked"
