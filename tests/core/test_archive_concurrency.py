"""Scheduled archiving under concurrency: each stale session archived exactly once."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import core.storage.sql.sweeps
from core.clock import ManualClock
from core.models import ArchiveReason, Inbound, NewMessage, Role
from core.sessions.manager import SessionManager
from core.sessions.resets import ResetRules
from core.storage.protocols import SessionFilter, Store
from tests.core.conftest import sqlite_store

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
RULES = ResetRules(idle_reset_minutes=30)


async def populate(store: Store, count: int) -> tuple[SessionManager, ManualClock]:
    clock = ManualClock(START)
    manager = SessionManager(store, clock=clock, reset_rules=RULES)
    for number in range(count):
        await manager.resolve(Inbound("console", "c", f"user{number}", "x"))
    return manager, clock


async def test_two_sweeps_at_once_archive_each_session_once(store: Store) -> None:
    manager, clock = await populate(store, 40)
    clock.advance(timedelta(minutes=31))
    first, second = await asyncio.gather(
        manager.maintenance.archive_idle_sessions(), manager.maintenance.archive_idle_sessions()
    )
    ids = [s.id for s in first + second]
    assert len(ids) == len(set(ids)) == 40
    archived = await store.list_sessions(SessionFilter(status="archived"), limit=100)
    assert len(archived) == 40 and all(s.archive_reason is ArchiveReason.IDLE for s in archived)


async def test_a_session_written_to_before_the_sweep_is_left_alone(store: Store) -> None:
    manager, clock = await populate(store, 3)
    clock.advance(timedelta(minutes=29))
    alive = (await manager.resolve(Inbound("console", "c", "user1", "x"))).session
    await manager.history.append(alive, NewMessage(Role.USER, "user1", "still here"))
    clock.advance(timedelta(minutes=2))
    archived = await manager.maintenance.archive_idle_sessions()
    assert len(archived) == 2 and alive.id not in {s.id for s in archived}
    assert (await manager.sessions.get(alive.id)).is_active


async def test_users_writing_during_a_sweep_land_in_active_sessions(store: Store) -> None:
    manager, clock = await populate(store, 20)
    clock.advance(timedelta(minutes=31))
    old = {s.id for s in await store.list_sessions(SessionFilter(status="active"), limit=100)}

    async def write(user: str) -> str:
        # What the router does: resolve (which resets a stale session itself), append.
        session = (await manager.resolve(Inbound("console", "c", user, "x"))).session
        await manager.history.append(session, NewMessage(Role.USER, user, "hi"))
        return session.id

    results = await asyncio.gather(
        manager.maintenance.archive_idle_sessions(), *(write(f"user{n}") for n in range(0, 20, 2))
    )
    swept, written = {s.id for s in results[0]}, set(results[1:])
    assert not written & old  # every message went to a fresh session
    everything = await store.list_sessions(SessionFilter(), limit=100)
    archived = [s for s in everything if s.id in old]
    assert all(not s.is_active and s.message_count == 0 for s in archived)
    assert swept <= old and len(everything) == 30
    assert all(s.is_active for s in everything if s.id in written)


SWEEP = textwrap.dedent(
    """
    import asyncio, json, sys
    from datetime import datetime
    from core.sessions.resets import ResetRules
    from core.storage.sql.store import SqlStore

    async def main() -> None:
        store = SqlStore(f"sqlite:///{sys.argv[1]}")
        await store.open()
        try:
            archived = await store.archive_due(
                ResetRules(idle_reset_minutes=30).idle_sweep(), datetime.fromisoformat(sys.argv[2])
            )
        finally:
            await store.close()
        print(json.dumps([s.id for s in archived]))

    asyncio.run(main())
    """
)


def test_two_processes_on_one_sqlite_file_archive_each_session_once(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    asyncio.run(prepare(path))
    now = (START + timedelta(minutes=31)).isoformat()
    root = Path(__file__).resolve().parents[2]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SWEEP, str(path), now],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=root,
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    first, second = (set(json.loads(out)) for out, _ in outputs)
    assert not first & second
    assert len(first | second) == 200


async def prepare(path: Path) -> None:
    store = sqlite_store(path)
    await store.open()
    try:
        await populate(store, 200)
    finally:
        await store.close()


async def test_a_long_sweep_archives_in_chunks_of_its_own_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One transaction for a whole sweep would hold SQLite's write lock, and every
    # reply behind it, for seconds when a daily reset archives 100,000 sessions.
    monkeypatch.setattr(core.storage.sql.sweeps, "SWEEP_CHUNK", 10)
    store = sqlite_store(tmp_path / "bot.db")
    await store.open()
    try:
        manager, clock = await populate(store, 25)
        clock.advance(timedelta(minutes=31))
        before = store.write_transactions
        archived = await manager.maintenance.archive_idle_sessions()
        assert store.write_transactions is not None and before is not None
        assert store.write_transactions - before == 3  # 10, 10 and 5
        assert len({s.id for s in archived}) == 25
        assert await store.list_sessions(SessionFilter(status="active"), limit=100) == []
        assert await manager.maintenance.archive_idle_sessions() == []
    finally:
        await store.close()


async def test_a_daily_reset_archives_in_chunks_every_due_session_once(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core.storage.sql.sweeps, "SWEEP_CHUNK", 7)
    clock = ManualClock(START)
    rules = ResetRules(daily_reset_time="04:00")
    manager = SessionManager(store, clock=clock, reset_rules=rules)
    for number in range(30):
        await manager.resolve(Inbound("console", "c", f"user{number}", "x"))
    clock.advance(timedelta(days=1))
    [schedule] = await manager.maintenance.daily_schedules()
    first, second = await asyncio.gather(
        manager.maintenance.archive_daily_sessions(schedule),
        manager.maintenance.archive_daily_sessions(schedule),
    )
    ids = [s.id for s in first + second]
    assert len(ids) == len(set(ids)) == 30
    assert all(s.archive_reason is ArchiveReason.DAILY for s in first + second)
