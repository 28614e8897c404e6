"""The rules over plain data, at fixed moments: no database, no clock."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from releases.promotion import rules

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_live_intervals_follow_the_history_from_when_the_registry_recorded_them():
    rows = [
        rules.HistoryRow(at("2026-03-01T10:00:00+00:00"), "+", "planned", None),
        # Claims to have gone live half an hour before the registry heard of it: not trusted.
        rules.HistoryRow(
            at("2026-03-02T10:00:00+00:00"), "~", "in_progress", at("2026-03-02T09:30:00+00:00")
        ),
        rules.HistoryRow(at("2026-03-03T10:00:00+00:00"), "~", "deployed", None),
        rules.HistoryRow(at("2026-03-05T10:00:00+00:00"), "~", "retired", None),
        rules.HistoryRow(at("2026-03-06T10:00:00+00:00"), "~", "deployed", None),
        rules.HistoryRow(at("2026-03-06T12:00:00+00:00"), "-", "deployed", None),
        # Recorded live with a deployed_at after the record: from the later deployed_at.
        rules.HistoryRow(
            at("2026-03-07T10:00:00+00:00"), "+", "deployed", at("2026-03-07T11:00:00+00:00")
        ),
    ]
    assert rules.live_intervals(rows) == [
        rules.Interval(
            at("2026-03-02T10:00:00+00:00"),
            at("2026-03-05T10:00:00+00:00"),
            claimed=at("2026-03-02T09:30:00+00:00"),
        ),
        rules.Interval(at("2026-03-06T10:00:00+00:00"), at("2026-03-06T12:00:00+00:00")),
        rules.Interval(at("2026-03-07T11:00:00+00:00"), None),
    ]


def test_a_new_deployed_at_of_a_live_deployment_starts_its_stretch_again():
    rows = [
        rules.HistoryRow(
            at("2026-03-01T10:00:00+00:00"), "+", "deployed", at("2026-03-01T10:00:00+00:00")
        ),
        # The same deployed_at (a new namespace), or none given: the stretch goes on.
        rules.HistoryRow(
            at("2026-03-02T10:00:00+00:00"), "~", "deployed", at("2026-03-01T10:00:00+00:00")
        ),
        rules.HistoryRow(at("2026-03-02T11:00:00+00:00"), "~", "in_progress", None),
        # Redeployed, said to be an hour after the record: from the new deployed_at.
        rules.HistoryRow(
            at("2026-03-05T10:00:00+00:00"), "~", "deployed", at("2026-03-05T11:00:00+00:00")
        ),
    ]
    assert rules.live_intervals(rows) == [rules.Interval(at("2026-03-05T11:00:00+00:00"), None)]
    # Then backdated to before it ever went live: from that record, not from the claim.
    rows.append(
        rules.HistoryRow(
            at("2026-03-06T10:00:00+00:00"), "~", "deployed", at("2026-02-01T10:00:00+00:00")
        )
    )
    assert rules.live_intervals(rows) == [
        rules.Interval(
            at("2026-03-06T10:00:00+00:00"), None, claimed=at("2026-02-01T10:00:00+00:00")
        )
    ]


def test_a_backdated_deployed_at_earns_no_soak_time_and_the_refusal_says_so():
    now = at("2026-03-10T12:00:00+00:00")
    # Recorded an hour ago, claiming to have been deployed a week ago.
    rows = [
        rules.HistoryRow(
            at("2026-03-10T11:00:00+00:00"), "+", "deployed", at("2026-03-03T11:00:00+00:00")
        )
    ]
    refused = rules.soak_rule("staging", dt.timedelta(days=1), rules.live_intervals(rows), now)
    assert refused == (
        "soak-time",
        False,
        "live in staging for 1h of the 1d required; allowed from 2026-03-11 11:00 UTC; "
        "counted from 2026-03-10 11:00 UTC, when the registry recorded it live, "
        "not from its deployed_at 2026-03-03 11:00 UTC",
    )
    # Recorded a day ago (the claim a week): the soak is over, counted from the record.
    rows = [
        rules.HistoryRow(
            at("2026-03-09T11:00:00+00:00"), "+", "deployed", at("2026-03-03T11:00:00+00:00")
        )
    ]
    allowed = rules.soak_rule("staging", dt.timedelta(days=1), rules.live_intervals(rows), now)
    assert allowed == ("soak-time", True, "live in staging for 1d 1h (needs 1d)")


def test_soak_counts_the_longest_stretch_and_says_when_it_will_be_over():
    now = at("2026-03-10T12:00:00+00:00")
    live = [rules.Interval(at("2026-03-10T08:00:00+00:00"), None)]
    refused = rules.soak_rule("staging", dt.timedelta(days=1), live, now)
    assert refused == (
        "soak-time",
        False,
        "live in staging for 4h of the 1d required; allowed from 2026-03-11 08:00 UTC",
    )
    earlier = [rules.Interval(at("2026-03-01T00:00:00+00:00"), at("2026-03-03T06:00:00+00:00"))]
    assert rules.soak_rule("staging", dt.timedelta(days=1), earlier + live, now).ok
    assert not rules.soak_rule("staging", dt.timedelta(hours=1), [], now).ok
    assert rules.upstream_rule("staging", []).message == (
        "never live in staging, which must run it first"
    )


AUCKLAND_NIGHTS = rules.Window(
    name="night freeze",
    weekdays=(4,),  # Friday
    start_time=dt.time(22, 0),
    duration=dt.timedelta(hours=8),
    time_zone="Pacific/Auckland",
)


@pytest.mark.parametrize(
    ("moment", "frozen"),
    [
        # Friday 2026-03-06 22:00 NZDT (UTC+13) is 09:00 UTC: the window opens.
        ("2026-03-06T08:59:00+00:00", False),
        ("2026-03-06T09:00:00+00:00", True),
        # Past Auckland's midnight: Saturday local, still Friday's window.
        ("2026-03-06T11:30:00+00:00", True),
        ("2026-03-06T16:59:00+00:00", True),
        ("2026-03-06T17:00:00+00:00", False),  # Saturday 06:00 local: over
        # The same UTC time a day earlier is Thursday night in Auckland: no window.
        ("2026-03-05T11:30:00+00:00", False),
    ],
)
def test_a_recurring_window_across_midnight_in_another_time_zone(moment: str, frozen: bool):
    result = rules.freeze_rule([AUCKLAND_NIGHTS], at(moment))
    assert result.ok is not frozen
    if frozen:
        assert result.message == (
            "frozen: night freeze until 2026-03-07 06:00 Pacific/Auckland (2026-03-06 17:00 UTC)"
        )


def test_a_recurring_window_over_a_daylight_saving_change_keeps_its_length():
    # New Zealand leaves daylight saving on Sunday 2026-04-05 at 03:00 local (to 02:00).
    window = rules.Window(
        name="weekend",
        weekdays=(5,),  # Saturday
        start_time=dt.time(23, 0),
        duration=dt.timedelta(hours=6),
        time_zone="Pacific/Auckland",
    )
    start = dt.datetime(2026, 4, 4, 23, 0, tzinfo=ZoneInfo("Pacific/Auckland"))
    assert rules.open_window(window, start.astimezone(UTC)) is not None
    found = rules.open_window(window, start.astimezone(UTC) + dt.timedelta(hours=5, minutes=59))
    assert found is not None
    # Six real hours: the clock goes back an hour, so it ends at 04:00 local, not 05:00.
    assert found[1].astimezone(UTC) - found[0].astimezone(UTC) == dt.timedelta(hours=6)
    assert found[1].strftime("%H:%M %Z") == "04:00 NZST"
    assert rules.open_window(window, start.astimezone(UTC) + dt.timedelta(hours=6)) is None


def test_one_off_windows_and_approvals():
    now = at("2026-12-24T12:00:00+00:00")
    xmas = rules.Window(
        name="holidays",
        starts_at=at("2026-12-23T00:00:00+00:00"),
        ends_at=at("2027-01-02T00:00:00+00:00"),
    )
    assert rules.freeze_rule([xmas], now).message == (
        "frozen: holidays until 2027-01-02 00:00 UTC (2027-01-02 00:00 UTC)"
    )
    assert rules.freeze_rule([xmas], at("2027-01-02T00:00:00+00:00")).ok
    assert rules.approvals_rule(2, "release managers", ["ana"]) == (
        "approvals",
        False,
        "1 of 2 approvals from release managers (by ana)",
    )
    assert rules.approvals_rule(1, None, ["ana", "bjørn"]).ok
    assert rules.approvals_rule(2, "release managers", ["ana"], ["bjørn"]) == (
        "approvals",
        False,
        "1 of 2 approvals from release managers (by ana); 1 approval is for earlier pins (bjørn)",
    )
    assert rules.approvals_rule(2, None, [], ["ana", "bjørn"]).message == (
        "0 of 2 approvals; 2 approvals are for earlier pins (ana, bjørn)"
    )


def pin(name: str, **changed: object) -> rules.PinnedContent:
    fields: dict[str, object] = {
        "repository": name,
        "tag": "v2.6.1",
        "commit_sha": "0123456789abcdef0123456789abcdef01234567",
        "package_version": "2.6.1",
        "url": "",
        "depends_on": (),
    }
    return rules.PinnedContent(**{**fields, **changed})  # type: ignore[arg-type]


def test_the_pins_digest_is_of_what_is_deployed_not_of_order_or_validation():
    pins = [pin("pytroll/fogpy", depends_on=("pytroll/satpy", "a/b")), pin("pytroll/satpy")]
    digest = rules.pins_digest(pins)
    # Fixed: approvals stored with it (and the migration that filled them) must keep matching.
    assert digest == "e3b6aa1bba6f3108599a2ca18c8f9e38ac8c4b49af48364110b6b3b2c2f79b67"
    assert rules.pins_digest(reversed(pins)) == digest
    same = [pin("pytroll/fogpy", depends_on=("a/b", "pytroll/satpy")), pin("pytroll/satpy")]
    assert rules.pins_digest(same) == digest
    changes = [
        [pin("pytroll/fogpy", depends_on=("a/b",)), pin("pytroll/satpy")],
        [
            pin("pytroll/fogpy", depends_on=("pytroll/satpy", "a/b")),
            pin("pytroll/satpy", tag="v2.6.2"),
        ],
        [
            pin("pytroll/fogpy", depends_on=("pytroll/satpy", "a/b")),
            pin("pytroll/satpy", commit_sha=None),
        ],
        [
            pin("pytroll/fogpy", depends_on=("pytroll/satpy", "a/b")),
            pin("pytroll/satpy", package_version=None),
        ],
        [
            pin("pytroll/fogpy", depends_on=("pytroll/satpy", "a/b")),
            pin("pytroll/satpy", url="https://example.org/fork.git"),
        ],
        [pin("pytroll/fogpy", depends_on=("pytroll/satpy", "a/b"))],
        [*pins, pin("openstack/nova")],
    ]
    assert len({rules.pins_digest(changed) for changed in changes} - {digest}) == len(changes)


def test_pin_rules_name_the_pins():
    states = {"invalid": ["openstack/nova"], "unchecked": ["acme/api"], "unreachable": ["a/b"]}
    assert rules.valid_pins_rule(states).message == (
        "pins not valid: openstack/nova (invalid), acme/api (unchecked)"
    )
    assert rules.reachable_pins_rule(states).message == "repositories unreachable: a/b"
    many = {"invalid": [f"org/repo-{i}" for i in range(14)]}
    assert rules.valid_pins_rule(many).message.endswith("and 4 more")
