"""History benchmark: checkpoint save, checkpoint restore, last 50 messages, by length.

Builds one session of 100 messages and one of 100,000 in the same SQLite file (bulk
insert through ``store.copy_messages``, then the counters set with SQL), and times
each operation through :class:`core.sessions.manager.SessionManager`, the way commands call
it. Prints the median and the 90th percentile of every operation in milliseconds.

Run from the repository root::

    python -m bench.bench_history            # or: python bench/bench_history.py
    python -m bench.bench_history --repeat 200 --url postgresql://postgres@127.0.0.1/bench

Results are recorded in bench/README.md. Tests never assert on these timings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from core.models import Checkpoint, Inbound, Message, Role, Session
from core.sessions.manager import SessionManager
from core.storage.backends import database_url
from core.storage.sql.schema import branches, sessions
from core.storage.sql.store import SqlStore

SIZES = (100, 100_000)
FILL_CHUNK = 5_000
HISTORY_LIMIT = 50
OWNER = "bench:alice"


@dataclass(frozen=True)
class Timing:
    """One operation at one history length: milliseconds, and SQL statements per run."""

    median: float
    p90: float
    statements: int


Results = dict[int, dict[str, Timing]]


async def fill(manager: SessionManager, store: SqlStore, size: int) -> Session:
    """Return a session whose head branch holds ``size`` messages."""
    session = (await manager.resolve(Inbound("bench", f"c{size}", "alice", "fill"))).session
    start = manager.now() - timedelta(seconds=size)
    for first in range(1, size + 1, FILL_CHUNK):
        await store.copy_messages(
            [
                Message(
                    id=f"{session.id}-{seq}",
                    session_id=session.id,
                    branch_id=session.head_branch_id,
                    seq=seq,
                    role=Role.USER if seq % 2 else Role.ASSISTANT,
                    author="alice" if seq % 2 else "bot",
                    content=f"message {seq}: " + "lorem ipsum dolor sit amet " * 4,
                    created_at=start + timedelta(seconds=seq),
                )
                for seq in range(first, min(first + FILL_CHUNK, size + 1))
            ]
        )
    # copy_messages leaves counters alone (it serves imports); set them as appends would.
    await store.run(_set_counters, session, size)
    return await manager.sessions.get(session.id)


def _set_counters(conn: sa.Connection, session: Session, size: int) -> None:
    conn.execute(
        branches.update().where(branches.c.id == session.head_branch_id).values(last_seq=size)
    )
    conn.execute(sessions.update().where(sessions.c.id == session.id).values(message_count=size))


class Subject:
    """One session under test and the operations timed on it."""

    def __init__(self, manager: SessionManager, session: Session, target: Checkpoint) -> None:
        self.manager = manager
        self.session = session
        self.restored = session
        self.target = target

    async def history(self) -> None:
        await self.manager.history.page(self.session, limit=HISTORY_LIMIT)

    async def save(self) -> None:
        await self.manager.checkpoints.save(self.session, "bench", by=OWNER)

    async def restore(self) -> None:
        self.restored, _, _ = await self.manager.checkpoints.restore(
            self.restored, self.target.id, by=OWNER
        )

    async def history_after_restore(self) -> None:
        # The head is an empty branch forked at the checkpoint, so the read walks one
        # fork: O(N + branch depth).
        await self.manager.history.page(self.restored, limit=HISTORY_LIMIT)

    def operations(self) -> dict[str, Callable[[], Awaitable[None]]]:
        return {
            f"history, last {HISTORY_LIMIT}": self.history,
            "checkpoint save": self.save,
            "checkpoint restore": self.restore,
            f"history after a restore, last {HISTORY_LIMIT}": self.history_after_restore,
        }


async def prepare(manager: SessionManager, store: SqlStore, size: int) -> Subject:
    session = await fill(manager, store, size)
    page = await manager.history.page(session, limit=HISTORY_LIMIT)
    assert [m.seq for m in page.messages] == list(range(size - HISTORY_LIMIT + 1, size + 1))
    target = await manager.checkpoints.save(session, "target", by=OWNER)
    subject = Subject(manager, session, target)
    await subject.restore()
    page = await manager.history.page(subject.restored, limit=HISTORY_LIMIT)
    assert len(page.messages) == HISTORY_LIMIT and page.messages[-1].seq == size
    return subject


async def settle(store: SqlStore) -> None:
    """Fold the bulk fill's write-ahead log into the file, so no timed commit pays for it."""
    if store.sql_engine.dialect.name == "sqlite" and store.url.database:
        # A connection of its own: a checkpoint cannot run inside the store's transactions.
        with sqlite3.connect(store.url.database) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()


async def count_statements(store: SqlStore, operation: Callable[[], Awaitable[None]]) -> int:
    """Run ``operation`` once and return how many SQL statements it sent (BEGIN included)."""
    sent = 0

    def count(*_: object) -> None:
        nonlocal sent
        sent += 1

    # Every connection the store's calls use comes from this engine.
    sa.event.listen(store.sql_engine, "before_cursor_execute", count)
    try:
        await operation()
    finally:
        sa.event.remove(store.sql_engine, "before_cursor_execute", count)
    return sent


async def measure(
    store: SqlStore, subjects: dict[int, Subject], repeat: int, rounds: int
) -> Results:
    """Time every operation on every subject, ``repeat`` times in all.

    Sizes and operations take turns in ``rounds`` rounds, so a burst of load from
    elsewhere on the machine lands on all of them rather than on one.
    """
    samples: dict[int, dict[str, list[float]]] = {size: {} for size in subjects}
    statements = {
        size: {name: await count_statements(store, op) for name, op in subject.operations().items()}
        for size, subject in subjects.items()
    }
    per_round = max(1, repeat // rounds)
    for _ in range(rounds):
        for size, subject in subjects.items():
            for name, operation in subject.operations().items():
                await operation()  # warm-up: connection, statement caches
                times = samples[size].setdefault(name, [])
                for _ in range(per_round):
                    began = time.perf_counter()
                    await operation()
                    times.append((time.perf_counter() - began) * 1000)
    return {
        size: {
            name: Timing(
                statistics.median(times),
                statistics.quantiles(times, n=10)[-1],
                statements[size][name],
            )
            for name, times in by_name.items()
        }
        for size, by_name in samples.items()
    }


def machine() -> str:
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    return f"{system}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"


def table(results: Results) -> str:
    small, large = SIZES
    lines = [
        f"| operation | {small:,} msgs: median (p90) | {large:,} msgs: median (p90) "
        "| ratio | SQL statements |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in results[small]:
        a, b = results[small][name], results[large][name]
        lines.append(
            f"| {name} | {a.median:.2f} ms ({a.p90:.2f}) | {b.median:.2f} ms ({b.p90:.2f}) "
            f"| {b.median / a.median:.2f}x | {a.statements} / {b.statements} |"
        )
    return "\n".join(lines)


async def run(url: str | None, repeat: int, rounds: int) -> list[str]:
    with tempfile.TemporaryDirectory() as scratch:
        target = url or f"sqlite:///{Path(scratch) / 'bench.db'}"
        store = SqlStore(database_url(target))
        await store.open()
        try:
            manager = SessionManager(store)
            subjects = {size: await prepare(manager, store, size) for size in SIZES}
            await settle(store)
            results = await measure(store, subjects, repeat, rounds)
        finally:
            await store.close()
    where = store.url.render_as_string(hide_password=True)
    return [f"{machine()}; {where}; {repeat} runs each in {rounds} rounds", "", table(results)]


def main(argv: list[str] | None = None) -> list[str]:
    """Parse arguments, run, print and return the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="storage URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--repeat", type=int, default=200, help="timed runs per operation")
    parser.add_argument("--rounds", type=int, default=20, help="rounds the runs are spread over")
    args = parser.parse_args(argv)
    lines = asyncio.run(run(args.url, args.repeat, args.rounds))
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
