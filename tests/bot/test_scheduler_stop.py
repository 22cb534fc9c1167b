"""Stopping the reset scheduler lets a running job finish before the store closes."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.scheduler import ResetScheduler
from core.models import Session
from core.sessions.manager import SessionManager
from core.sessions.resets import ResetRules
from core.storage.memory import MemoryStore
from core.storage.protocols import SweepPlan


class HeldSweeps(MemoryStore):
    """A store whose idle sweep runs until the test releases it."""

    def __init__(self) -> None:
        super().__init__()
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.finished = False

    async def archive_due(self, plan: SweepPlan, now: datetime) -> list[Session]:
        self.started.set()
        await self.release.wait()
        self.finished = True
        return await super().archive_due(plan, now)


def manager_on(store: HeldSweeps) -> SessionManager:
    return SessionManager(store, reset_rules=ResetRules(idle_reset_minutes=30))


async def test_stop_waits_for_the_running_sweep() -> None:
    store = HeldSweeps()
    scheduler = ResetScheduler(manager_on(store))
    await scheduler.start()
    await asyncio.wait_for(store.started.wait(), 5)
    stopping = asyncio.create_task(scheduler.stop())
    for _ in range(20):
        await asyncio.sleep(0)  # give stop() every chance to return early
    assert not stopping.done() and not store.finished
    store.release.set()
    await asyncio.wait_for(stopping, 5)
    assert store.finished


async def test_stop_before_start_does_nothing() -> None:
    store = HeldSweeps()
    await ResetScheduler(manager_on(store)).stop()
    assert not store.started.is_set()
