"""Sweep plans: memory and SQL archive the same sessions for the same plan.

The reset policy is written once, as :class:`~core.storage.protocols.InForce` values
that :class:`~core.sessions.resets.ResetRules` builds; the memory store evaluates them
in Python and the SQL store compiles them. Here both run the same plans over the same
sessions, with channel settings and configured overrides that contradict each other.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.models import Branch, ChannelSettings, Session
from core.sessions.resets import ResetOverride, ResetRules, RuleSelector
from core.storage.protocols import InForce, Store, SweepPlan
from tests.core.conftest import opened
from tests.core.test_store_contract import make_session

NOW = datetime(2026, 6, 2, 9, 30, tzinfo=UTC)

RULES = ResetRules(
    daily_reset_time="04:00",
    idle_reset_minutes=60,
    timezone="UTC",
    grace_minutes=10,
    overrides=(
        # The first matching override wins: direct chats on "tg" keep the idle default.
        ResetOverride(RuleSelector(platform="tg", is_direct=True), daily_reset_time="06:00"),
        ResetOverride(RuleSelector(platform="tg"), idle_reset_minutes=15, timezone="Asia/Tokyo"),
        ResetOverride(RuleSelector(channel_id="night"), daily_reset_time="off"),
        ResetOverride(RuleSelector(is_direct=False), idle_reset_minutes=0),
    ),
)

SETTINGS = (
    ChannelSettings("tg:c:loud", NOW, idle_reset_minutes=5),
    ChannelSettings("console:c:night", NOW, daily_reset_time="04:00", timezone="Europe/Berlin"),
    ChannelSettings("console:c:slow", NOW, idle_reset_minutes=240, daily_reset_time="off"),
)


def population() -> list[tuple[Session, Branch]]:
    """Sessions across platforms, channels and chat kinds, quiet and started at many times."""
    found = []
    places = [
        ("tg", "loud", True),
        ("tg", "loud", False),
        ("tg", "quiet", True),
        ("tg", "quiet", False),
        ("console", "night", True),
        ("console", "slow", True),
        ("console", "c1", True),
        ("console", "c1", False),
    ]
    quiet_minutes = (1, 12, 20, 90, 300)
    started_hours = (2, 30)
    for n, ((platform, channel, direct), quiet, started) in enumerate(
        itertools.product(places, quiet_minutes, started_hours)
    ):
        pair = make_session(
            f"{platform}:c:{channel}:u:{n}",
            platform=platform,
            channel_id=channel,
            is_direct=direct,
            created=NOW - timedelta(hours=started),
            last_activity_at=NOW - timedelta(minutes=quiet),
        )
        found.append(pair)
    return found


async def fill(store: Store, sessions: list[tuple[Session, Branch]]) -> None:
    for session, root in sessions:
        await store.start_session(session, root)
    for settings in SETTINGS:
        await store.put_channel_settings(settings)


def plans() -> list[SweepPlan]:
    daily = [RULES.daily_sweep(schedule, NOW) for schedule in _schedules()]
    return [RULES.idle_sweep(), *(plan for plan in daily if plan is not None)]


def _schedules() -> list[tuple[str, str]]:
    times = ("04:00", "06:00")
    zones = ("UTC", "Asia/Tokyo", "Europe/Berlin")
    return list(itertools.product(times, zones))


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_memory_and_sql_archive_the_same_sessions(backend: str, tmp_path: Path) -> None:
    sessions = population()
    archived_by: dict[str, list[set[str]]] = {}
    for name in ("memory", backend):
        async with opened(name, tmp_path) as store:
            await fill(store, sessions)
            archived_by[name] = [
                {s.id for s in await store.archive_due(plan, NOW)} for plan in plans()
            ]
    assert archived_by["memory"] == archived_by[backend]
    # The plans were not vacuous: each kind of sweep found something, not everything.
    idle, *daily = archived_by["memory"]
    assert 0 < len(idle) < len(sessions)
    assert any(daily) and len(set().union(*daily)) < len(sessions)


def test_the_rules_and_the_plans_evaluate_the_same_in_force_values() -> None:
    settings = {s.channel_key: s for s in SETTINGS}
    idle = RULES.idle_sweep()
    for session, _ in population():
        stored = settings.get(session.channel_key)
        policy = RULES.policy_for(session, stored)
        quiet = NOW - session.last_activity_at
        expected = policy.idle_minutes is not None and quiet >= timedelta(
            minutes=policy.idle_minutes
        )
        assert idle.holds_for(session, stored, NOW) == expected, session


def test_in_force_takes_the_stored_setting_then_the_first_matching_case() -> None:
    in_force = InForce(
        "idle_reset_minutes",
        ((RuleSelector(platform="tg"), 15), (RuleSelector(is_direct=True), 7)),
        60,
    )
    tg, _ = make_session(platform="tg", is_direct=True)
    direct, _ = make_session(is_direct=True)
    group, _ = make_session(is_direct=False)
    assert in_force.value_for(tg, None) == 15
    assert in_force.value_for(direct, None) == 7
    assert in_force.value_for(group, None) == 60
    stored = ChannelSettings(tg.channel_key, NOW, idle_reset_minutes=0)
    assert in_force.value_for(tg, stored) == 0
    assert in_force.value_for(tg, ChannelSettings(tg.channel_key, NOW)) == 15
