"""SqliteRunner: quick writes on the event loop's thread, the rest (and waits) on the writer's.

A lone conversation's writes skip the hand-over to the writer thread; that must never
make the event loop wait for another process's lock, nor leave a failed transaction
half done.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.sql_runner import SqliteRunner


@pytest.fixture
async def runner(tmp_path: Path) -> AsyncIterator[SqliteRunner]:
    runner = SqliteRunner(sa.make_url(f"sqlite+pysqlite:///{tmp_path / 'db.sqlite'}"), {})
    await runner.write(_create)
    try:
        yield runner
    finally:
        await runner.close()


def _create(conn: sa.Connection) -> None:
    conn.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")


def _add(conn: sa.Connection, text: str) -> int:
    conn.exec_driver_sql("INSERT INTO notes (text) VALUES (?)", (text,))
    return threading.get_ident()


def _add_on_driver(db: sqlite3.Connection, text: str) -> int:
    db.execute("INSERT INTO notes (text) VALUES (?)", (text,))
    return threading.get_ident()


def _notes(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:  # another connection: committed rows only
        return [text for (text,) in db.execute("SELECT text FROM notes ORDER BY id")]


async def test_quick_writes_run_on_the_loops_thread_and_commit(
    runner: SqliteRunner, tmp_path: Path
) -> None:
    here = threading.get_ident()
    before = runner.inline_transactions
    assert await runner.write_quick(_add, "a") == here
    assert await runner.write_on_driver(_add_on_driver, "b") == here
    assert runner.inline_transactions == before + 2
    assert _notes(tmp_path / "db.sqlite") == ["a", "b"]


async def test_other_writes_run_on_the_writer_thread(runner: SqliteRunner, tmp_path: Path) -> None:
    assert await runner.write(_add, "big") != threading.get_ident()
    assert _notes(tmp_path / "db.sqlite") == ["big"]


async def test_a_quick_write_never_holds_the_loop_while_another_process_writes(
    runner: SqliteRunner, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "db.sqlite", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock
    other.execute("INSERT INTO notes (text) VALUES ('theirs')")
    ticks = 0
    write = asyncio.create_task(runner.write_quick(_add, "ours"))

    async def tick() -> None:
        nonlocal ticks
        while not write.done():
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.3)
    assert not write.done() and ticks >= 10  # the loop kept running meanwhile
    other.execute("COMMIT")
    other.close()
    # The writer thread waited for the lock (busy timeout), then wrote: nothing lost.
    assert await write != threading.get_ident()
    await ticker
    assert _notes(tmp_path / "db.sqlite") == ["theirs", "ours"]
    # The lock is free again: the next quick write is back on the loop's thread.
    assert await runner.write_quick(_add, "again") == threading.get_ident()


def _add_then_fail(conn: sa.Connection, text: str) -> None:
    conn.exec_driver_sql("INSERT INTO notes (text) VALUES (?)", (text,))
    raise ValueError("the write's own logic refuses")


def _add_twice_on_driver(db: sqlite3.Connection, text: str) -> None:
    db.execute("INSERT INTO notes (id, text) VALUES (1, ?)", (text,))
    db.execute("INSERT INTO notes (id, text) VALUES (1, ?)", (text,))


async def test_a_failed_quick_write_is_rolled_back_and_the_next_one_goes_through(
    runner: SqliteRunner, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="refuses"):
        await runner.write_quick(_add_then_fail, "half")
    with pytest.raises(sqlite3.IntegrityError):
        await runner.write_on_driver(_add_twice_on_driver, "twice")
    assert _notes(tmp_path / "db.sqlite") == []
    await runner.write_quick(_add, "whole")
    assert _notes(tmp_path / "db.sqlite") == ["whole"]


async def test_quick_writes_submitted_together_share_a_commit(runner: SqliteRunner) -> None:
    await runner.write(_add, "first")  # on the thread: the others queue behind it
    before = runner.transactions
    first = asyncio.create_task(runner.write(_add, "slow"))
    await asyncio.sleep(0)
    await asyncio.gather(*(runner.write_quick(_add, f"n{n}") for n in range(3)), first)
    assert runner.transactions - before == 2
