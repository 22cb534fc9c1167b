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

from core.storage.sql.checkpoints import Checkpointer
from core.storage.sql.runner import SqliteRunner


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


def _notes(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:  # another connection: committed rows only
        return [text for (text,) in db.execute("SELECT text FROM notes ORDER BY id")]


async def test_quick_writes_run_on_the_loops_thread_and_commit(
    runner: SqliteRunner, tmp_path: Path
) -> None:
    here = threading.get_ident()
    before = runner.inline_transactions
    assert await runner.write_quick(_add, "a") == here
    assert await runner.write_quick(_add, "b") == here
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
    write = asyncio.create_task(runner.write_quick(_add, "ours"))
    for _ in range(20):  # turns of the event loop, which a write on it would hold
        await asyncio.sleep(0)
    # Had the write waited for the lock on the loop's thread, the first turn would
    # have lasted until the busy timeout, and the write would be over (failed).
    assert not write.done()
    other.execute("COMMIT")
    other.close()
    # The writer thread waited for the lock (busy timeout), then wrote: nothing lost.
    assert await write != threading.get_ident()
    assert _notes(tmp_path / "db.sqlite") == ["theirs", "ours"]
    # The lock is free again: the next quick write is back on the loop's thread.
    assert await runner.write_quick(_add, "again") == threading.get_ident()


def _add_then_fail(conn: sa.Connection, text: str) -> None:
    conn.exec_driver_sql("INSERT INTO notes (text) VALUES (?)", (text,))
    raise ValueError("the write's own logic refuses")


async def test_a_failed_quick_write_is_rolled_back_and_the_next_one_goes_through(
    runner: SqliteRunner, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="refuses"):
        await runner.write_quick(_add_then_fail, "half")
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


# -- checkpoints: off the event loop, and the log does not grow without end --------


def _log_frames(db: sqlite3.Connection) -> tuple[int, int]:
    """The pages in the write-ahead log, and how many of them are in the file already."""
    [(_, frames, copied)] = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return frames, copied


def _writer(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA wal_autocheckpoint=0")  # as the runner's write connection
    db.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT)")
    return db


def _write_pages(db: sqlite3.Connection, transactions: int) -> None:
    for n in range(transactions):
        db.execute("INSERT INTO notes (text) VALUES (?)", ("x" * 5000 + str(n),))


def test_a_checkpoint_copies_the_log_into_the_file(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    db = _writer(path)
    _write_pages(db, 5)
    assert path.stat().st_size < 5 * 5000  # the rows are in the log only
    checkpointer = Checkpointer(str(path))
    checkpointer.wanted()
    checkpointer.stop()  # runs the checkpoint still due, then ends
    assert checkpointer.checkpoints == 1
    assert path.stat().st_size > 5 * 5000
    db.close()


def test_a_long_log_is_started_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("core.storage.sql.checkpoints.RESTART_AFTER_FRAMES", 20)
    db = _writer(tmp_path / "db.sqlite")
    _write_pages(db, 30)  # two pages each at least
    assert _log_frames(db)[0] >= 60
    checkpointer = Checkpointer(str(tmp_path / "db.sqlite"))
    checkpointer.wanted()
    checkpointer.stop()
    _write_pages(db, 1)
    # The next write started the log over: it holds that write's pages only.
    assert _log_frames(db)[0] < 10
    db.close()


async def test_the_runners_commits_ask_for_checkpoints(
    runner: SqliteRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = threading.Event()
    checkpoint = Checkpointer._checkpoint

    def noted(self: Checkpointer, db: sqlite3.Connection) -> None:
        checkpoint(self, db)
        ran.set()

    monkeypatch.setattr(Checkpointer, "_checkpoint", noted)
    for n in range(5):
        await runner.write_quick(_add, "x" * 5000 + str(n))
    # The checkpointer's thread runs within its interval; the bound only ends a hang.
    assert await asyncio.to_thread(ran.wait, 60)
    assert _notes(tmp_path / "db.sqlite")[-1].endswith("4")


async def test_the_log_stays_short_under_steady_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes that never pause: without a restart the log would hold every page written."""
    monkeypatch.setattr("core.storage.sql.checkpoints.RESTART_AFTER_FRAMES", 100)
    monkeypatch.setattr("core.storage.sql.checkpoints.CHECKPOINT_INTERVAL", 0.01)
    path = tmp_path / "db.sqlite"
    runner = SqliteRunner(sa.make_url(f"sqlite+pysqlite:///{path}"), {})
    try:
        await runner.write(_create)
        written = 0
        while runner.checkpointer.checkpoints < 5 and written < 20_000:
            await runner.write_quick(_add, "x" * 5000)  # two pages of log at least
            written += 1
        assert runner.checkpointer.checkpoints >= 5
        with sqlite3.connect(path) as db:
            frames, _ = _log_frames(db)
        # Each write added two pages at least: a log never started over would hold
        # them all.
        assert frames < written
    finally:
        await runner.close()


def _add_twice(conn: sa.Connection, text: str) -> None:
    conn.exec_driver_sql("INSERT INTO notes (id, text) VALUES (1, ?)", (text,))
    conn.exec_driver_sql("INSERT INTO notes (id, text) VALUES (1, ?)", (text,))


async def test_a_write_the_database_refuses_is_rolled_back_on_either_thread(
    runner: SqliteRunner, tmp_path: Path
) -> None:
    for write in (runner.write_quick, runner.write):
        with pytest.raises(sa.exc.IntegrityError):
            await write(_add_twice, "twice")
        assert _notes(tmp_path / "db.sqlite") == []
    await runner.write_quick(_add, "after")
    await runner.write(_add, "and on the thread")
    assert _notes(tmp_path / "db.sqlite") == ["after", "and on the thread"]
