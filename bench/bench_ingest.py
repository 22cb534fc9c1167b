"""Ingest benchmark: sessionbot against raw sqlite3 and LangChain's SQLChatMessageHistory.

Measures rows stored per second, on the same file system, in alternating rounds:

* **sessionbot**: plain messages through ``Router.handle`` (echo responder, so each
  message stores a user and an assistant row; encryption on; SQLite WAL with
  ``synchronous=NORMAL``), one conversation at a time and 1,000 at once (asyncio
  tasks). Each conversation first gets ``--history`` messages, so that every reply's
  context window (``max_tokens = 2000``) is as full as in a conversation that has gone
  on for a while; a run on fresh conversations is reported too.
* **floor**: the standard library's ``sqlite3`` inserting rows of the same shape into
  the same ``messages`` table, one ``INSERT`` and ``COMMIT`` per row (WAL,
  ``synchronous=NORMAL``); and the **batched floor**, 500 rows per transaction.
* **LangChain**: ``SQLChatMessageHistory`` on a SQLite file with WAL and
  ``synchronous=NORMAL``, storing each turn as LangChain's own runnable does
  (``add_messages([human, ai])``: one transaction for both rows), one conversation
  synchronously and 1,000 at once with its async API; and reading a session's
  messages at 100 and 10,000 messages, next to sessionbot's reads.

Run from the repository root::

    python -m bench.bench_ingest
    python -m bench.bench_ingest --rounds 3 --messages 300

Results are recorded in bench/README.md. Tests never assert on these timings.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from bench.common import Bot, Figure, Figures, machine, settle, table
from core.ids import new_id, new_ordered_ids
from core.models import Inbound, NewMessage, Role, Session
from core.sessions.context_window import context_history
from core.storage.sql.append import AppendRequest, append_batch_sqlite
from core.storage.sql.checkpoints import Checkpointer
from core.storage.sql.connections import SQLITE_PRAGMAS
from core.storage.sql.schema import metadata
from core.storage.sql.store import SqlStore

CONVERSATIONS = 1_000
TEXT = "message {i} from {user}: could you summarise the last report for me, please?"
FLOOR_BATCH = 500
SQL_BATCH = 50
"""Appends per commit of sessionbot's transactions alone at 1,000 conversations: about
what the full path gets (its "appends per commit" figure)."""


def inbound(user: int, number: int) -> Inbound:
    return Inbound(
        "bench",
        f"channel{user % 50}",
        f"user{user}",
        TEXT.format(i=number, user=user),
        message_id=str(number),
    )


# -- sessionbot ---------------------------------------------------------------------


async def prefill(bot: Bot, users: range, history: int) -> None:
    """Give each user's session ``history`` messages, sealed under its key, in bulk."""
    if history <= 0:
        return
    made: list[Session] = []
    for first in range(users.start, users.stop, 250):
        chunk = range(first, min(first + 250, users.stop))
        resolved = await asyncio.gather(*(bot.manager.resolve(inbound(u, 0)) for u in chunk))
        made.extend(r.session for r in resolved)
    await bot.fill(made, history, lambda seq: TEXT.format(i=seq, user="someone"))


async def sessionbot_ingest(
    scratch: Path, conversations: int, messages: int, history: int, *, remembered: bool = True
) -> tuple[float, int]:
    """Return rows/s of ``messages`` inbound messages per conversation, and commits.

    ``remembered=False`` keeps nothing in memory between messages (as right after a
    restart, or with more conversations at once than ``[context] live_conversations``):
    every message reads its session and its context window from the file.
    """
    bot = await Bot.open(
        scratch / f"sessionbot-{new_id()}.db", live_conversations=1000 if remembered else 0
    )
    try:
        users = range(conversations)
        await prefill(bot, users, history)
        # Warm-up: every session exists and its data key is cached, as in a running bot.
        await asyncio.gather(*(bot.router.handle(inbound(u, 0)) for u in users))
        inner = bot.store.inner
        assert isinstance(inner, SqlStore)
        commits_before = inner.group_commits

        async def converse(user: int) -> None:
            for number in range(1, messages + 1):
                replies = await bot.router.handle(inbound(user, number))
                assert replies and replies[0].text.startswith("echo:"), replies

        settle()
        began = time.perf_counter()
        await asyncio.gather(*(converse(u) for u in users))
        elapsed = time.perf_counter() - began
        commits = inner.group_commits - commits_before
    finally:
        await bot.close()
    return 2 * conversations * messages / elapsed, commits


async def synchronous_setting(scratch: Path) -> str:
    """What ``PRAGMA synchronous`` the store runs with (stated in the results)."""
    bot = await Bot.open(scratch / "pragma.db")
    try:
        inner = bot.store.inner
        assert isinstance(inner, SqlStore)
        with inner.sql_engine.connect() as conn:
            level = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    finally:
        await bot.close()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return f"journal_mode={mode}, synchronous={names.get(int(level or 0), level)}"


# -- the floor ----------------------------------------------------------------------


def floor_rows(count: int) -> list[tuple[Any, ...]]:
    """Rows shaped like sessionbot's: sealed-length content, JSON metadata, UTC text times.

    Ids are sessionbot's too (a millisecond, then random), one millisecond apart: in
    the order sessionbot writes them.
    """
    sealed = "sb:aes256gcm:" + "A" * 120  # the length TEXT has once sealed
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    start = time.time_ns() // 1_000_000
    rows = []
    for seq in range(1, count + 1):
        [message_id] = new_ordered_ids(1, millis=start + seq)
        rows.append((message_id, "s1", "b1", seq, "user", "user1", sealed, "{}", 0, 0, now))
    return rows


def floor_database(path: Path) -> sqlite3.Connection:
    """The store's own schema, in WAL mode with synchronous=NORMAL, autocommit off."""
    engine = sa.create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


INSERT = (
    "INSERT INTO messages (id, session_id, branch_id, seq, role, author, content, metadata, "
    "tokens_in, tokens_out, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def floor(scratch: Path, rows: int, batch: int) -> float:
    """Rows/s inserting ``rows`` rows, ``batch`` per transaction."""
    db = floor_database(scratch / f"floor-{new_id()}.db")
    data = floor_rows(rows)
    try:
        settle()
        began = time.perf_counter()
        for first in range(0, rows, batch):
            db.execute("BEGIN")
            db.executemany(INSERT, data[first : first + batch])
            db.execute("COMMIT")
        elapsed = time.perf_counter() - began
    finally:
        db.close()
    return rows / elapsed


async def sessionbot_sql(
    scratch: Path, conversations: int, appends: int, per_commit: int, history: int
) -> float:
    """Rows/s of sessionbot's append transactions alone, one message per append.

    What the store runs for appends, on the standard library's ``sqlite3`` as the
    store does (:func:`core.storage.sql.append.append_batch_sqlite`: the heads read, the two
    counter updates, the insert, with seq allocation and row building), with its
    checkpoints on a thread of their own, ``per_commit`` appends per transaction,
    conversations taking turns. No router, no sealing, no memory, no event loop: the
    part of sessionbot's cost that is SQLite's and the store's.
    """
    path = scratch / f"sql-{new_id()}.db"
    bot = await Bot.open(path)
    try:
        users = range(conversations)
        await prefill(bot, users, history)
        sessions = [(await bot.manager.resolve(inbound(u, 0))).session for u in users]
    finally:
        await bot.close()
    sealed = "sb:aes256gcm:" + "A" * 120
    at = datetime.now(UTC)
    requests = []
    for number in range(appends):
        session = sessions[number % conversations]
        role = Role.USER if number % 2 == 0 else Role.ASSISTANT
        ids = tuple(new_ordered_ids(1))
        new = NewMessage(role, "someone", sealed)
        requests.append(AppendRequest(session.id, (new,), ids, at, session.head_branch_id))
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in (*SQLITE_PRAGMAS, "PRAGMA wal_autocheckpoint=0"):
        db.execute(pragma)
    # As in the store: the checkpointer holds this process's writer off by its lock.
    writing = threading.Lock()
    checkpointer = Checkpointer(str(path), writing)
    try:
        settle()
        began = time.perf_counter()
        for first in range(0, appends, per_commit):
            with writing:
                db.execute("BEGIN IMMEDIATE")
                append_batch_sqlite(db, requests[first : first + per_commit])
                db.execute("COMMIT")
            checkpointer.wanted()
        elapsed = time.perf_counter() - began
    finally:
        checkpointer.stop()
        db.close()
    return appends / elapsed


# -- LangChain ----------------------------------------------------------------------


def _langchain() -> tuple[Any, Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # langchain-community announces its sunset
        from langchain_community.chat_message_histories import SQLChatMessageHistory
        from langchain_core.messages import AIMessage, HumanMessage
    return SQLChatMessageHistory, HumanMessage, AIMessage


def _wal(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def langchain_sync(scratch: Path, turns: int) -> float:
    """Rows/s of one conversation storing ``turns`` turns (two rows each)."""
    history_class, human, ai = _langchain()
    engine = sa.create_engine(f"sqlite:///{scratch / f'langchain-{new_id()}.db'}")
    _wal(engine)
    try:
        history = history_class(session_id="user0", connection=engine)
        settle()
        began = time.perf_counter()
        for number in range(turns):
            text = TEXT.format(i=number, user=0)
            history.add_messages([human(content=text), ai(content=f"echo: {text}")])
        return 2 * turns / (time.perf_counter() - began)
    finally:
        engine.dispose()


async def langchain_async(scratch: Path, conversations: int, turns: int) -> tuple[float, int]:
    """Rows/s of ``conversations`` concurrent conversations (async API), and failed turns."""
    from sqlalchemy.ext.asyncio import create_async_engine

    history_class, human, ai = _langchain()
    engine = create_async_engine(f"sqlite+aiosqlite:///{scratch / f'lc-async-{new_id()}.db'}")
    _wal(engine.sync_engine)
    failed = 0
    try:
        histories = [
            history_class(session_id=f"user{u}", connection=engine, async_mode=True)
            for u in range(conversations)
        ]
        await histories[0].aget_messages()  # creates the table once

        async def converse(user: int) -> None:
            nonlocal failed
            for number in range(turns):
                text = TEXT.format(i=number, user=user)
                try:
                    await histories[user].aadd_messages(
                        [human(content=text), ai(content=f"echo: {text}")]
                    )
                except Exception:  # "database is locked": counted, not hidden
                    failed += 1

        settle()
        began = time.perf_counter()
        await asyncio.gather(*(converse(u) for u in range(conversations)))
        elapsed = time.perf_counter() - began
    finally:
        await engine.dispose()
    return 2 * (conversations * turns - failed) / elapsed, failed


# -- reads ----------------------------------------------------------------------------


class Reads:
    """One session of each size in sessionbot and in LangChain, to time reads on."""

    def __init__(self, bot: Bot, sessions: dict[int, Session], histories: dict[int, Any]):
        self.bot = bot
        self.forgetful = bot.forgetful()
        self.sessions = sessions
        self.histories = histories

    @classmethod
    async def build(cls, scratch: Path, sizes: tuple[int, ...]) -> Reads:
        bot = await Bot.open(scratch / "reads.db")
        history_class, human, ai = _langchain()
        engine = sa.create_engine(f"sqlite:///{scratch / 'reads-langchain.db'}")
        _wal(engine)
        built: dict[int, Session] = {}
        histories: dict[int, Any] = {}
        for size in sizes:
            user = 10_000 + size
            await prefill(bot, range(user, user + 1), size)
            built[size] = (await bot.manager.resolve(inbound(user, 0))).session
            history = history_class(session_id=f"user{user}", connection=engine)
            texts = [TEXT.format(i=n, user=user) for n in range(size)]
            history.add_messages([human(t) if n % 2 == 0 else ai(t) for n, t in enumerate(texts)])
            histories[size] = history
        for size, session in built.items():
            built[size] = await bot.manager.sessions.get(session.id)
        return cls(bot, built, histories)

    def operations(self, size: int) -> dict[str, Callable[[], Awaitable[object]]]:
        # Read from the file, as LangChain reads: a manager that remembers nothing.
        manager, session, history = self.forgetful, self.sessions[size], self.histories[size]

        async def langchain_all() -> object:
            return history.messages

        async def last_50() -> object:
            return await manager.history.page(session, limit=50)

        async def everything() -> object:
            return await manager.history.all_messages(session)

        async def context() -> object:
            return await context_history(manager, session, 2000)

        return {
            "sessionbot last 50 (/history 50)": last_50,
            "sessionbot context for a reply": context,
            "sessionbot whole session": everything,
            "LangChain whole session (.messages, its only read)": langchain_all,
        }


async def time_call(operation: Callable[[], Awaitable[object]], repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls (fewer, at least 3, past a second)."""
    await operation()
    times: list[float] = []
    while len(times) < repeat and (len(times) < 3 or sum(times) < 1000):
        began = time.perf_counter()
        await operation()
        times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return times[len(times) // 2]


# -- the run --------------------------------------------------------------------------


async def collect(rounds: int = 3, messages: int = 200, history: int = 150) -> Figures:
    """Run every measurement ``rounds`` times, variants interleaved in each round."""
    figures: Figures = {
        "ingest_1": Figure("sessionbot ingest, 1 conversation", "rows/s"),
        "ingest_1000": Figure("sessionbot ingest, 1,000 conversations", "rows/s"),
        "ingest_1000_cold": Figure(
            "sessionbot ingest, 1,000 conversations, nothing remembered between messages",
            "rows/s",
        ),
        "ingest_1000_fresh": Figure(
            "sessionbot ingest, 1,000 fresh conversations (empty history)", "rows/s"
        ),
        "commits_1000": Figure("appends per commit, 1,000 conversations", "appends"),
        "sql_1": Figure(
            "sessionbot's append transactions alone, 1 conversation, one per commit", "rows/s"
        ),
        "sql_1000": Figure(
            f"sessionbot's append transactions alone, 1,000 conversations, {SQL_BATCH} per commit",
            "rows/s",
        ),
        "floor": Figure("raw sqlite3, one INSERT + COMMIT per row", "rows/s"),
        "floor_batched": Figure(f"raw sqlite3, {FLOOR_BATCH} rows per COMMIT", "rows/s"),
        "langchain_1": Figure("LangChain SQLChatMessageHistory, 1 conversation", "rows/s"),
        "langchain_1000": Figure(
            "LangChain SQLChatMessageHistory, 1,000 conversations (async)", "rows/s"
        ),
        "langchain_1000_failed": Figure("LangChain async turns that failed", "turns"),
    }
    # Five messages per conversation at 1,000 at once (10,000 rows a run): shorter runs
    # of well under a second swung by a third between rounds.
    per_conversation = max(1, messages // 40)
    sizes = (100, 10_000)
    read_figures: Figures = {}
    with tempfile.TemporaryDirectory(prefix="sessionbot-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        durability = await synchronous_setting(scratch)
        for _ in range(rounds):
            figures["floor"].samples.append(floor(scratch, 4_000, 1))
            figures["floor_batched"].samples.append(floor(scratch, 40_000, FLOOR_BATCH))
            figures["sql_1"].samples.append(await sessionbot_sql(scratch, 1, 4_000, 1, history))
            figures["sql_1000"].samples.append(
                await sessionbot_sql(scratch, CONVERSATIONS, 20_000, SQL_BATCH, history)
            )
            rate, _ = await sessionbot_ingest(scratch, 1, messages, history)
            figures["ingest_1"].samples.append(rate)
            figures["langchain_1"].samples.append(langchain_sync(scratch, messages))
            rate, commits = await sessionbot_ingest(
                scratch, CONVERSATIONS, per_conversation, history
            )
            figures["ingest_1000"].samples.append(rate)
            appends = 2 * CONVERSATIONS * per_conversation
            figures["commits_1000"].samples.append(appends / max(commits, 1))
            rate, failed = await langchain_async(scratch, CONVERSATIONS, per_conversation)
            figures["langchain_1000"].samples.append(rate)
            figures["langchain_1000_failed"].samples.append(failed)
            rate, _ = await sessionbot_ingest(scratch, CONVERSATIONS, per_conversation, 0)
            figures["ingest_1000_fresh"].samples.append(rate)
            rate, _ = await sessionbot_ingest(
                scratch, CONVERSATIONS, per_conversation, history, remembered=False
            )
            figures["ingest_1000_cold"].samples.append(rate)
        reads = await Reads.build(scratch, sizes)
        try:
            for _ in range(rounds):
                for size in sizes:
                    for name, operation in reads.operations(size).items():
                        key = f"read {name} @{size}"
                        figure = read_figures.setdefault(
                            key, Figure(f"{name}, {size:,} messages", "ms")
                        )
                        figure.samples.append(await time_call(operation, 20))
        finally:
            await reads.bot.close()
    for figure in figures.values():
        figure.note = durability
    figures.update(read_figures)
    return figures


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of everything")
    parser.add_argument(
        "--messages", type=int, default=200, help="messages of the one-conversation run"
    )
    parser.add_argument("--history", type=int, default=150, help="messages before timing")
    args = parser.parse_args(argv)
    figures = asyncio.run(collect(args.rounds, args.messages, args.history))
    lines = [machine(), next(iter(figures.values())).note, "", *table(figures)]
    print("\n".join(lines))
    return lines


if __name__ == "__main__":
    main()
