"""Group commit in SqlStore, on SQLite and PostgreSQL: shared commits, never a skipped one.

An append is acknowledged only once its transaction has committed: checked by reading
each message back through another store (other connections see committed rows only)
the moment its caller's ``await`` returns.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.errors import ConflictError, StorageError
from core.ids import new_id
from core.models import Message, NewMessage, Role
from core.storage.sql.store import SqlStore
from tests.core.conftest import postgres_schema, sqlite_store
from tests.core.test_store_contract import T0, append, make_session, start, user

SQL_BACKENDS = ("sqlite", pytest.param("postgres", marks=pytest.mark.postgres))


@asynccontextmanager
async def two_stores(backend: str, tmp_path: Path) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    """Two stores on one database: as two processes would be."""
    if backend == "postgres":
        async with postgres_schema() as (url, connect_args):
            stores = (
                SqlStore(url, connect_args=connect_args),
                SqlStore(url, connect_args=connect_args),
            )
            async with _opened(stores):
                yield stores
        return
    stores = (sqlite_store(tmp_path / "store.db"), sqlite_store(tmp_path / "store.db"))
    async with _opened(stores):
        yield stores


@asynccontextmanager
async def _opened(stores: tuple[SqlStore, SqlStore]) -> AsyncIterator[None]:
    try:
        for store in stores:
            await store.open()
        yield
    finally:
        for store in stores:
            await store.close()


@pytest.fixture(params=SQL_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_each_append_is_committed_when_its_caller_is_answered(
    backend: str, tmp_path: Path
) -> None:
    async with two_stores(backend, tmp_path) as (store, other):
        sessions = [await start(store, f"console:c:c1:u:user{n}") for n in range(40)]
        before = store.group_commits

        async def write_then_look(n: int) -> Message | None:
            [stored] = await append(store, sessions[n], user(f"hello {n}"))
            return await other.get_message(stored.id)  # another connection: committed rows only

        seen = await asyncio.gather(*(write_then_look(n) for n in range(40)))
        assert all(message is not None for message in seen)
        assert [m.content for m in seen if m] == [f"hello {n}" for n in range(40)]
        # 40 appends at once shared transactions: fewer commits than appends.
        assert store.group_commits - before < 40


async def test_appends_to_one_session_keep_submission_order(backend: str, tmp_path: Path) -> None:
    async with two_stores(backend, tmp_path) as (store, _):
        session = await start(store)
        results = await asyncio.gather(
            *(
                append(store, session, user(f"m{n}"), NewMessage(Role.ASSISTANT, "bot", "ok"))
                for n in range(25)
            )
        )
        assert [[m.seq for m in pair] for pair in results] == [
            [2 * n + 1, 2 * n + 2] for n in range(25)
        ]
        stored = await store.read_messages(session.head_branch_id, limit=100, newest_first=False)
        assert [m.content for m in stored][::2] == [f"m{n}" for n in range(25)]
        after = await store.get_session(session.id)
        assert after is not None and after.message_count == 50


async def test_counters_move_as_if_each_append_ran_alone(backend: str, tmp_path: Path) -> None:
    async with two_stores(backend, tmp_path) as (store, _):
        session = await start(store)
        late = T0 + timedelta(minutes=5)
        await asyncio.gather(
            append(store, session, user("a"), when=T0 + timedelta(minutes=1)),
            append(
                store,
                session,
                NewMessage(Role.ASSISTANT, "bot", "b", tokens_in=3, tokens_out=4),
                when=late,
            ),
        )
        after = await store.get_session(session.id)
        assert after is not None
        assert (after.message_count, after.tokens_in, after.tokens_out) == (2, 3, 4)
        assert after.updated_at == late
        assert after.last_activity_at == T0 + timedelta(minutes=1)  # bot replies do not count


async def test_a_bad_append_fails_alone_and_the_rest_commit(backend: str, tmp_path: Path) -> None:
    async with two_stores(backend, tmp_path) as (store, _):
        session = await start(store)
        [taken] = await append(store, session, user("first"))
        others = [await start(store, f"console:c:c1:u:user{n}") for n in range(5)]

        async def duplicate() -> list[Message]:
            return await store.append_messages(session.id, [user("again")], [taken.id], T0)

        results = await asyncio.gather(
            *(append(store, s, user("fine")) for s in others[:3]),
            duplicate(),
            *(append(store, s, user("fine")) for s in others[3:]),
            return_exceptions=True,
        )
        assert isinstance(results[3], ConflictError)
        assert all(
            isinstance(r, list) and r[0].content == "fine" for i, r in enumerate(results) if i != 3
        )
        for other in others:
            stored = await store.get_session(other.id)
            assert stored is not None and stored.message_count == 1
        unchanged = await store.get_session(session.id)
        assert unchanged is not None and unchanged.message_count == 1


async def test_an_append_to_a_missing_session_stores_nothing_and_others_go_through(
    backend: str, tmp_path: Path
) -> None:
    async with two_stores(backend, tmp_path) as (store, _):
        session = await start(store)
        missing, _ = make_session("console:c:c9:u:nobody")
        results = await asyncio.gather(
            store.append_messages(missing.id, [user("lost")], [new_id(16)], T0),
            append(store, session, user("kept")),
        )
        assert results[0] == [] and results[1][0].seq == 1


async def test_a_database_failure_reaches_every_caller(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = sqlite_store(path)
    await store.open()
    try:
        sessions = [await start(store, f"console:c:c1:u:user{n}") for n in range(5)]
        with sqlite3.connect(path) as db:  # the table disappears under the store
            db.execute("ALTER TABLE messages RENAME TO gone")
        results = await asyncio.gather(
            *(append(store, s, user("x")) for s in sessions), return_exceptions=True
        )
        assert all(isinstance(r, StorageError) and "messages" in str(r) for r in results)
    finally:
        await store.close()


async def test_concurrent_writes_of_two_stores_never_lose_a_message(
    backend: str, tmp_path: Path
) -> None:
    """Two processes' batches on the same sessions: every seq once, counters exact."""
    async with two_stores(backend, tmp_path) as (first, second):
        sessions = [await start(first, f"console:c:c1:u:user{n}") for n in range(10)]
        writes = [
            append(store, session, user(f"{name}{n}"))
            for n in range(6)
            for session in sessions
            for store, name in ((first, "a"), (second, "b"))
        ]
        await asyncio.gather(*writes)
        for session in sessions:
            stored = await second.read_messages(
                session.head_branch_id, limit=100, newest_first=False
            )
            assert [m.seq for m in stored] == list(range(1, 13))
            after = await first.get_session(session.id)
            assert after is not None and after.message_count == 12


async def test_other_writes_share_transactions_and_fail_alone(tmp_path: Path) -> None:
    """SQLite: every write queues on one writer; a failing one leaves the others be."""
    store = sqlite_store(tmp_path / "store.db")
    await store.open()
    try:
        pairs = [make_session(f"console:c:c1:u:user{n}") for n in range(20)]
        orphan, _ = make_session("console:c:c1:u:orphan")
        before = store.write_transactions
        assert before is not None
        results = await asyncio.gather(
            *(store.start_session(session, root) for session, root in pairs),
            # A branch of a session that does not exist: the foreign key refuses it.
            store.add_branch(make_session("x", session_id=orphan.id)[1]),
            return_exceptions=True,
        )
        assert isinstance(results[-1], ConflictError)
        assert [s.id for s in results[:-1]] == [session.id for session, _ in pairs]
        for session, _ in pairs:
            assert await store.get_active_session(session.scope_key) is not None
        # 21 writes, and a retry of each alone after the refused one broke the batch:
        # still far fewer transactions than writes one by one would take (21).
        transactions = store.write_transactions - before
        assert transactions < 21 + 21
    finally:
        await store.close()


async def test_appends_queued_with_other_writes_share_one_transaction(tmp_path: Path) -> None:
    """SQLite: one queue for every write; the queued appends go in as one batch."""
    store = sqlite_store(tmp_path / "store.db")
    await store.open()
    release = threading.Event()

    def held(conn: sa.Connection) -> None:
        release.wait()  # the writer thread is busy: everything else queues

    try:
        sessions = [await start(store, f"console:c:c1:u:user{n}") for n in range(10)]
        pairs = [make_session(f"console:c:c2:u:user{n}") for n in range(3)]
        busy = asyncio.create_task(store.run(held))
        await asyncio.sleep(0)
        writes = asyncio.gather(
            *(append(store, s, user("queued")) for s in sessions),
            *(store.start_session(session, root) for session, root in pairs),
        )
        for _ in range(5):  # turns of the loop: every write submitted
            await asyncio.sleep(0)
        transactions, appends = store.write_transactions, store.group_commits
        assert transactions is not None
        release.set()
        await busy
        results = await writes
        assert store.write_transactions == transactions + 1
        assert store.group_commits == appends + 1
        assert [batch[0].seq for batch in results[:10]] == [1] * 10
        assert [s.id for s in results[10:]] == [session.id for session, _ in pairs]
    finally:
        release.set()
        await store.close()
