"""The scheduler's set-based passes, through the manager, on the in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.clock import ManualClock
from core.models import ArchiveReason, ChannelSettings, Inbound, NewMessage, Role
from core.sessions.manager import SessionManager
from core.sessions.resets import ResetOverride, ResetRules, RuleSelector
from core.storage.memory import MemoryStore

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def inbound(user: str, channel: str = "c1") -> Inbound:
    return Inbound("console", channel, user, "hi")


async def test_idle_pass_archives_only_stale_sessions_once() -> None:
    clock = ManualClock(START)
    manager = SessionManager(
        MemoryStore(), clock=clock, reset_rules=ResetRules(idle_reset_minutes=30)
    )
    stale = (await manager.resolve(inbound("a"))).session
    clock.advance(timedelta(minutes=20))
    fresh = (await manager.resolve(inbound("b"))).session
    clock.advance(timedelta(minutes=10))
    archived = await manager.maintenance.archive_idle_sessions()
    assert [s.id for s in archived] == [stale.id]
    assert archived[0].archive_reason is ArchiveReason.IDLE
    assert await manager.maintenance.archive_idle_sessions() == []
    assert (await manager.sessions.get(fresh.id)).is_active


async def test_daily_pass_uses_the_latest_boundary_and_grace() -> None:
    clock = ManualClock(datetime(2026, 5, 1, 3, 0, tzinfo=UTC))
    rules = ResetRules(daily_reset_time="04:00", grace_minutes=15)
    manager = SessionManager(MemoryStore(), clock=clock, reset_rules=rules)
    quiet = (await manager.resolve(inbound("a"))).session
    talking = (await manager.resolve(inbound("b"))).session
    clock.set(datetime(2026, 5, 1, 3, 55, tzinfo=UTC))
    await manager.history.append(talking, NewMessage(Role.USER, "b", "still here"))
    clock.set(datetime(2026, 5, 1, 4, 0, tzinfo=UTC))
    assert await manager.maintenance.daily_schedules() == {("04:00", "UTC")}
    archived = await manager.maintenance.archive_daily_sessions(("04:00", "UTC"))
    assert [s.id for s in archived] == [quiet.id]
    clock.set(datetime(2026, 5, 1, 4, 10, tzinfo=UTC))
    assert [s.id for s in await manager.maintenance.archive_daily_sessions(("04:00", "UTC"))] == [
        talking.id
    ]
    # Sessions started after the boundary wait for the next one.
    later = (await manager.resolve(inbound("c"))).session
    assert await manager.maintenance.archive_daily_sessions(("04:00", "UTC")) == []
    assert (await manager.sessions.get(later.id)).is_active


async def test_channel_settings_add_schedules_and_route_sessions() -> None:
    clock = ManualClock(datetime(2026, 5, 1, 3, 0, tzinfo=UTC))
    rules = ResetRules(
        daily_reset_time="04:00",
        overrides=(ResetOverride(RuleSelector(channel_id="night"), daily_reset_time="off"),),
    )
    manager = SessionManager(MemoryStore(), clock=clock, reset_rules=rules)
    tokyo = (await manager.resolve(inbound("a", "tokyo"))).session
    night = (await manager.resolve(inbound("a", "night"))).session
    key = manager.channels.key(inbound("a", "tokyo"))
    await manager.store.put_channel_settings(
        ChannelSettings(key, START, daily_reset_time="05:00", timezone="Asia/Tokyo")
    )
    assert await manager.maintenance.daily_schedules() == {
        ("04:00", "UTC"),
        ("05:00", "Asia/Tokyo"),
    }
    clock.set(datetime(2026, 5, 1, 21, 0, tzinfo=UTC))  # 06:00 in Tokyo next day
    assert await manager.maintenance.archive_daily_sessions(("04:00", "UTC")) == []
    archived = await manager.maintenance.archive_daily_sessions(("05:00", "Asia/Tokyo"))
    assert [s.id for s in archived] == [tokyo.id]
    assert (await manager.sessions.get(night.id)).is_active


async def test_no_rules_no_archiving() -> None:
    manager = SessionManager(MemoryStore(), clock=ManualClock(START))
    session = (await manager.resolve(inbound("a"))).session
    assert await manager.maintenance.archive_idle_sessions() == []
    assert (await manager.sessions.get(session.id)).is_active
