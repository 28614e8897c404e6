"""Bad policy input is refused field by field (the admin's forms run these model checks)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from registry.models import Environment
from releases.promotion.models import FreezeWindow, PromotionPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def policy() -> PromotionPolicy:
    return PromotionPolicy.objects.create(environment=Environment.objects.create(name="production"))


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        ({}, {"starts_at"}),
        (
            {"starts_at": timezone.now(), "ends_at": timezone.now() - dt.timedelta(hours=1)},
            {"ends_at"},
        ),
        (
            {"weekdays": "fri,someday", "start_time": dt.time(22), "duration": dt.timedelta(0)},
            {"weekdays", "duration"},
        ),
        (
            {"weekdays": "fri", "time_zone": "Mars/Olympus_Mons"},
            {"start_time", "duration", "time_zone"},
        ),
    ],
)
def test_a_bad_freeze_window_names_its_fields_and_is_not_saved(
    policy: PromotionPolicy, fields: dict[str, object], errors: set[str]
) -> None:
    window = FreezeWindow(policy=policy, name="maintenance", **fields)
    with pytest.raises(ValidationError) as refused:
        window.full_clean()
    assert set(refused.value.message_dict) == errors
    assert not FreezeWindow.objects.exists()


def test_approvals_without_a_group_are_refused(policy: PromotionPolicy) -> None:
    policy.required_approvals = 2
    with pytest.raises(ValidationError) as refused:
        policy.full_clean()
    assert set(refused.value.message_dict) == {"approval_group"}
    policy.refresh_from_db()
    assert policy.required_approvals == 0
