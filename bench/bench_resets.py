"""Reset benchmark: one scheduled idle sweep over 100,000 stale sessions.

Builds N active sessions with bulk SQL, all idle past the limit, then times one
``store.archive_due`` run of the idle sweep's plan: the set-based pass the scheduler's
sweep job makes (``UPDATE … WHERE status = 'active' AND last_activity_at <= :cutoff``
per distinct idle limit in force, in chunks). Between repetitions every session is made
active and stale again, and each repetition checks that a second sweep right after
archives nothing.

Run from the repository root::

    python -m bench.bench_resets                      # 100,000 sessions, SQLite file
    python -m bench.bench_resets --sessions 10000 --url postgresql://postgres@127.0.0.1/bench

Results are recorded in bench/README.md. Tests never assert on these timings.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from core.sessions.resets import ResetRules
from core.storage.backends import database_url
from core.storage.sql.schema import branches, sessions
from core.storage.sql.store import SqlStore

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
RULES = ResetRules(idle_reset_minutes=30)
CHUNK = 10_000


async def build(store: SqlStore, count: int) -> None:
    """Insert ``count`` active sessions, each idle for an hour, with their root branches."""
    await store.run(_insert_stale, count)


def _insert_stale(conn: sa.Connection, count: int) -> None:
    stale = NOW - timedelta(hours=1)
    for first in range(0, count, CHUNK):
        numbers = range(first, min(first + CHUNK, count))
        conn.execute(
            sessions.insert(),
            [
                {
                    "id": f"s{n}",
                    "scope_key": f"bench:c:c{n % 100}:u:{n}",
                    "status": "active",
                    "owner": f"bench:{n}",
                    "platform": "bench",
                    "channel_id": f"c{n % 100}",
                    "channel_key": f"bench:c:c{n % 100}",
                    "is_direct": False,
                    "head_branch_id": f"b{n}",
                    "message_count": 0,
                    "title": None,
                    "tags": [],
                    "metadata": {},
                    "tokens_in": 0,
                    "tokens_out": 0,
                    "created_at": stale,
                    "updated_at": stale,
                    "last_activity_at": stale,
                    "archived_at": None,
                    "archive_reason": None,
                    "resumed_at": None,
                }
                for n in numbers
            ],
        )
        conn.execute(
            branches.insert(),
            [
                {
                    "id": f"b{n}",
                    "session_id": f"s{n}",
                    "parent_id": None,
                    "fork_seq": 0,
                    "last_seq": 0,
                    "created_at": stale,
                }
                for n in numbers
            ],
        )


async def reactivate(store: SqlStore) -> None:
    await store.run(_reactivate)


def _reactivate(conn: sa.Connection) -> None:
    conn.execute(sessions.update().values(status="active", archived_at=None, archive_reason=None))


async def one_pass(store: SqlStore) -> tuple[float, int]:
    """Time one sweep; return (seconds, sessions archived)."""
    began = time.perf_counter()
    archived = await store.archive_due(RULES.idle_sweep(), NOW)
    return time.perf_counter() - began, len(archived)


async def run(url: str | None, count: int, repeat: int) -> list[str]:
    """Run the benchmark; return the lines of its result table."""
    with tempfile.TemporaryDirectory() as scratch:
        store = SqlStore(database_url(url or f"sqlite:///{Path(scratch) / 'resets.db'}"))
        await store.open()
        try:
            await build(store, count)
            times = []
            for _ in range(repeat):
                await reactivate(store)
                elapsed, archived = await one_pass(store)
                assert archived == count, archived
                times.append(elapsed)
                _, again = await one_pass(store)
                assert again == 0  # a second run archives nothing
        finally:
            await store.close()
    median = statistics.median(times)
    return [
        "| sessions | one sweep: median (min to max) | sessions/s |",
        "| ---: | ---: | ---: |",
        f"| {count:,} | {median:.2f} s ({min(times):.2f} to {max(times):.2f}) "
        f"| {count / median:,.0f} |",
    ]


def main(argv: list[str] | None = None) -> list[str]:
    """Parse arguments, run, print and return the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", help="storage URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    lines = asyncio.run(run(args.url, args.sessions, args.repeat))
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
