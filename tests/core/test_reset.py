from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.models import ArchiveReason, Session, SessionStatus
from core.sessions.resets import (
    ResetPolicy,
    due_reset,
    local_instant,
    next_daily_boundary,
    next_resets,
    parse_reset_time,
)

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def session(created: datetime, last_activity: datetime | None = None) -> Session:
    return Session(
        id="s",
        scope_key="k",
        status=SessionStatus.ACTIVE,
        owner="console:u",
        platform="console",
        channel_id="c",
        head_branch_id="b",
        created_at=created,
        updated_at=created,
        last_activity_at=last_activity or created,
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


IDLE_30 = ResetPolicy(idle_minutes=30)


def test_idle_resets_at_exactly_the_threshold_and_not_a_second_before() -> None:
    start = at("2026-05-01T10:00:00+00:00")
    s = session(start)
    assert due_reset(s, IDLE_30, start + timedelta(minutes=30) - timedelta(seconds=1)) is None
    assert due_reset(s, IDLE_30, start + timedelta(minutes=30)) is ArchiveReason.IDLE


def test_idle_counts_from_the_last_user_message() -> None:
    start = at("2026-05-01T10:00:00+00:00")
    s = session(start, last_activity=start + timedelta(minutes=20))
    assert due_reset(s, IDLE_30, start + timedelta(minutes=45)) is None
    assert due_reset(s, IDLE_30, start + timedelta(minutes=50)) is ArchiveReason.IDLE


def test_no_policy_never_resets() -> None:
    s = session(at("2020-01-01T00:00:00+00:00"))
    assert ResetPolicy().is_off
    assert due_reset(s, ResetPolicy(), at("2026-01-01T00:00:00+00:00")) is None


def test_daily_reset_crossing_midnight() -> None:
    policy = ResetPolicy(daily_time=time(0, 0), timezone=UTC_ZONE)
    s = session(at("2026-05-01T23:50:00+00:00"))
    assert due_reset(s, policy, at("2026-05-01T23:59:59+00:00")) is None
    assert due_reset(s, policy, at("2026-05-02T00:00:00+00:00")) is ArchiveReason.DAILY


def test_daily_reset_in_the_channels_timezone() -> None:
    tokyo = ResetPolicy(daily_time=time(4, 0), timezone=ZoneInfo("Asia/Tokyo"))
    s = session(at("2026-05-01T12:00:00+00:00"))  # 21:00 in Tokyo
    # 04:00 in Tokyo is 19:00 UTC the same day.
    assert due_reset(s, tokyo, at("2026-05-01T18:59:00+00:00")) is None
    assert due_reset(s, tokyo, at("2026-05-01T19:00:00+00:00")) is ArchiveReason.DAILY


def test_a_boundary_inside_a_live_conversation_waits_for_quiet() -> None:
    policy = ResetPolicy(daily_time=time(4, 0), timezone=UTC_ZONE, grace_minutes=15)
    created = at("2026-05-01T03:00:00+00:00")
    chatting = session(created, last_activity=at("2026-05-01T03:58:00+00:00"))
    assert due_reset(chatting, policy, at("2026-05-01T04:05:00+00:00")) is None
    assert due_reset(chatting, policy, at("2026-05-01T04:13:00+00:00")) is ArchiveReason.DAILY
    quiet = session(created, last_activity=at("2026-05-01T03:10:00+00:00"))
    assert due_reset(quiet, policy, at("2026-05-01T04:00:00+00:00")) is ArchiveReason.DAILY


def test_a_resumed_session_starts_a_new_daily_clock() -> None:
    policy = ResetPolicy(daily_time=time(4, 0), timezone=UTC_ZONE)
    old = session(at("2026-05-01T10:00:00+00:00"))
    resumed = dataclasses.replace(
        old,
        resumed_at=at("2026-05-03T09:00:00+00:00"),
        last_activity_at=at("2026-05-03T09:00:00+00:00"),
    )
    assert due_reset(old, policy, at("2026-05-03T09:01:00+00:00")) is ArchiveReason.DAILY
    assert due_reset(resumed, policy, at("2026-05-03T09:01:00+00:00")) is None
    assert due_reset(resumed, policy, at("2026-05-04T04:00:00+00:00")) is ArchiveReason.DAILY


@pytest.mark.parametrize(
    ("zone", "day", "reset", "expected"),
    [
        # Spring forward: 02:30 does not exist; the first valid instant after it is 03:00.
        (BERLIN, "2026-03-29", time(2, 30), "2026-03-29T01:00:00+00:00"),
        (NEW_YORK, "2026-03-08", time(2, 30), "2026-03-08T07:00:00+00:00"),
        # Fall back: 02:30 (Berlin) and 01:30 (New York) happen twice; the first counts.
        (BERLIN, "2026-10-25", time(2, 30), "2026-10-25T00:30:00+00:00"),
        (NEW_YORK, "2026-11-01", time(1, 30), "2026-11-01T05:30:00+00:00"),
        # An ordinary day.
        (BERLIN, "2026-06-01", time(4, 0), "2026-06-01T02:00:00+00:00"),
    ],
)
def test_local_instants_on_daylight_saving_days(
    zone: ZoneInfo, day: str, reset: time, expected: str
) -> None:
    assert local_instant(datetime.fromisoformat(day).date(), reset, zone) == at(expected)


@pytest.mark.parametrize(
    ("zone", "reset", "created", "first", "second"),
    [
        (
            BERLIN,
            time(2, 30),
            "2026-10-24T12:00:00+00:00",
            "2026-10-25T00:30:00+00:00",
            "2026-10-26T01:30:00+00:00",
        ),
        (
            NEW_YORK,
            time(1, 30),
            "2026-10-31T12:00:00+00:00",
            "2026-11-01T05:30:00+00:00",
            "2026-11-02T06:30:00+00:00",
        ),
    ],
)
def test_a_repeated_local_time_fires_once(
    zone: ZoneInfo, reset: time, created: str, first: str, second: str
) -> None:
    boundary = next_daily_boundary(at(created), reset, zone)
    assert boundary == at(first)
    # A session started just after the first occurrence is not reset by the second.
    assert next_daily_boundary(boundary + timedelta(minutes=1), reset, zone) == at(second)


def test_spring_forward_reset_fires_once_that_day() -> None:
    policy = ResetPolicy(daily_time=time(2, 30), timezone=BERLIN)
    s = session(at("2026-03-28T20:00:00+00:00"))
    assert due_reset(s, policy, at("2026-03-29T00:59:00+00:00")) is None
    assert due_reset(s, policy, at("2026-03-29T01:00:00+00:00")) is ArchiveReason.DAILY


def test_next_resets_reports_both_clocks() -> None:
    policy = ResetPolicy(daily_time=time(4, 0), timezone=UTC_ZONE, idle_minutes=30)
    now = at("2026-05-01T10:00:00+00:00")
    daily, idle = next_resets(session(now), policy, now)
    assert daily == at("2026-05-02T04:00:00+00:00")
    assert idle == at("2026-05-01T10:30:00+00:00")
    assert next_resets(session(now), ResetPolicy(), now) == (None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("04:00", time(4)), ("23:59", time(23, 59)), ("7:05", time(7, 5)), ("OFF", None)],
)
def test_parse_reset_time(text: str, expected: time | None) -> None:
    assert parse_reset_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "24:00",
        "4",
        "04:60",
        "4:5",
        "noon",
        "-1:00",
        "",
        "\u0660\u0664:\u0660\u0660",
        "\uff10\uff14:\uff10\uff10",
        "004:00",
        "04:00:00",
    ],
)
def test_parse_reset_time_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_reset_time(text)


def test_parse_reset_time_quotes_a_long_text_short() -> None:
    with pytest.raises(ValueError) as caught:
        parse_reset_time("9" * 5000)
    assert str(caught.value) == f"expected HH:MM (24-hour) or off, not {'9' * 32!r}"
