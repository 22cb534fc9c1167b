"""Stopping the reset scheduler lets a running job finish before the store closes."""

from __future__ import annotations

import asyncio

from bot.scheduler import ResetScheduler
from core.models import Session
from core.sessions.manager import SessionManager
from core.sessions.resets import ResetRules
from core.storage.memory import MemoryStore


class SlowManager(SessionManager):
    def __init__(self) -> None:
        super().__init__(MemoryStore(), reset_rules=ResetRules(idle_reset_minutes=30))
        self.started = asyncio.Event()
        self.finished = False

    async def archive_idle_sessions(self) -> list[Session]:
        self.started.set()
        await asyncio.sleep(0.1)
        self.finished = True
        return []


async def test_stop_waits_for_the_running_sweep() -> None:
    manager = SlowManager()
    scheduler = ResetScheduler(manager)
    await scheduler.start()
    await asyncio.wait_for(manager.started.wait(), 5)
    await scheduler.stop()
    assert manager.finished


async def test_stop_before_start_does_nothing() -> None:
    await ResetScheduler(SlowManager()).stop()
