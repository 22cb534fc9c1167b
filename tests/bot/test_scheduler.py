from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.scheduler import ResetScheduler
from core.clock import ManualClock
from core.models import ArchiveReason, ChannelSettings, Inbound, Session
from core.sessions.manager import SessionManager
from core.sessions.resets import ResetRules
from core.storage.memory import MemoryStore

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def inbound(user: str, channel: str = "c1") -> Inbound:
    return Inbound("console", channel, user, "hi")


async def wait_for(condition: asyncio.Event, seconds: float = 5.0) -> None:
    await asyncio.wait_for(condition.wait(), seconds)


async def test_the_real_scheduler_archives_an_idle_session_without_any_message() -> None:
    clock = ManualClock(START)
    rules = ResetRules(idle_reset_minutes=30)
    manager = SessionManager(MemoryStore(), clock=clock, reset_rules=rules)
    session = (await manager.resolve(inbound("a"))).session
    done = asyncio.Event()
    reported: list[Session] = []

    async def on_archived(archived: Sequence[Session]) -> None:
        reported.extend(archived)
        done.set()

    scheduler = ResetScheduler(manager, sweep_seconds=0.05, on_archived=on_archived)
    await scheduler.start()
    try:
        clock.advance(timedelta(minutes=31))
        await wait_for(done)
    finally:
        await scheduler.stop()
    assert [s.id for s in reported] == [session.id]
    stored = await manager.sessions.get(session.id)
    assert not stored.is_active and stored.archive_reason is ArchiveReason.IDLE


async def test_job_count_is_constant_in_the_number_of_sessions() -> None:
    clock = ManualClock(START)
    rules = ResetRules(daily_reset_time="04:00", idle_reset_minutes=30)
    manager = SessionManager(MemoryStore(), clock=clock, reset_rules=rules)
    scheduler = ResetScheduler(manager, sweep_seconds=3600)
    await scheduler.start()
    try:
        before = scheduler.job_count
        for number in range(10_000):
            await manager.resolve(inbound(f"user{number}", f"channel{number % 50}"))
        await scheduler.sync_daily_jobs()
        assert scheduler.job_count == before == 2  # the sweep and one cron job
        # A channel with its own reset time adds one job for that time, not per session.
        key = manager.channels.key(inbound("x", "channel1"))
        await manager.store.put_channel_settings(
            ChannelSettings(key, START, daily_reset_time="06:30", timezone="Europe/Berlin")
        )
        await scheduler.sync_daily_jobs()
        assert scheduler.job_count == 3
    finally:
        await scheduler.stop()


async def test_daily_job_archives_at_the_boundary() -> None:
    clock = ManualClock(datetime(2026, 5, 1, 3, 0, tzinfo=UTC))
    manager = SessionManager(
        MemoryStore(), clock=clock, reset_rules=ResetRules(daily_reset_time="04:00")
    )
    session = (await manager.resolve(inbound("a"))).session
    scheduler = ResetScheduler(manager, sweep_seconds=3600)
    assert await scheduler.run_daily(("04:00", "UTC")) == []
    clock.set(datetime(2026, 5, 1, 4, 0, tzinfo=UTC))
    archived = await scheduler.run_daily(("04:00", "UTC"))
    assert [s.id for s in archived] == [session.id]
    assert await scheduler.run_daily(("04:00", "UTC")) == []
