"""What only the SQLite backend promises: a private WAL file that survives restarts."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine.interfaces import CacheStats

from core.errors import ConflictError, StorageError
from core.ids import new_id
from core.models import Branch, NewMessage, Role
from core.storage.backends import upgrade_database
from core.storage.keyring import KeyringEntry
from core.storage.sql.history import _NEWEST_MESSAGES
from core.storage.sql.schema import SCHEMA_REVISION, sessions
from core.storage.sql.store import SqlStore
from core.storage.sql.units import ACTIVE
from tests.core.conftest import sqlite_store
from tests.core.test_store_contract import T0, append, fill, make_session, start


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_file_is_created_private_with_its_wal_under_umask_000(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = sqlite_store(path)
    previous = os.umask(0)
    try:
        await store.open()
        await fill(store, await start(store), 3)
        assert mode(path) == 0o600
        assert mode(path.with_name("bot.db-wal")) == 0o600
        assert mode(path.with_name("bot.db-shm")) == 0o600
    finally:
        os.umask(previous)
        await store.close()


async def test_an_existing_database_readable_by_others_is_made_private_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "bot.db"
    store = sqlite_store(path)
    await store.open()
    session = await start(store)
    await fill(store, session, 3)
    # Another process keeps the file open, so its WAL and shared memory stay on disk.
    other = sqlite3.connect(path)
    other.execute("SELECT count(*) FROM messages").fetchone()
    await store.close()
    companions = [path, path.with_name("bot.db-wal"), path.with_name("bot.db-shm")]
    try:
        for member in companions:
            assert member.exists()
            member.chmod(0o644)
        reopened = sqlite_store(path)
        with caplog.at_level("WARNING"):
            await reopened.open()
        try:
            assert [mode(member) for member in companions] == [0o600] * 3
            warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
            assert len(warned) == 3 and all("made it private" in line for line in warned)
            assert await reopened.get_session(session.id) is not None
        finally:
            await reopened.close()
    finally:
        other.close()


async def test_wal_mode_is_active_and_foreign_keys_are_enforced(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    store = sqlite_store(path)
    try:
        await store.open()
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.close()
        orphan = Branch(new_id(10), "no-such-session", None, 0, 0, T0)
        with pytest.raises(ConflictError):
            await store.add_branch(orphan)
    finally:
        await store.close()


async def test_data_survives_closing_and_reopening(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    first = sqlite_store(path)
    await first.open()
    session = await start(first)
    written = await fill(first, session, 5)
    await first.close()

    second = sqlite_store(path)
    try:
        await second.open()
        assert await second.get_active_session(session.scope_key) is not None
        stored = await second.read_messages(session.head_branch_id, limit=10, newest_first=False)
        assert stored == written
        more = await append(second, session, NewMessage(Role.USER, "alice", "again"))
        assert more[0].seq == 6
    finally:
        await second.close()


async def test_upgrade_database_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    await upgrade_database(f"sqlite:///{path}")
    await upgrade_database(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (SCHEMA_REVISION,)
        ]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert {"sessions", "branches", "messages", "checkpoints", "channel_settings"} <= tables
    assert mode(path) == 0o600


async def test_a_missing_directory_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "bot.db"
    with pytest.raises(StorageError) as caught:
        await upgrade_database(f"sqlite:///{path}")
    message = str(caught.value)
    assert "\n" not in message and str(path.parent) in message
    assert not path.parent.exists()


async def test_a_path_that_cannot_be_opened_is_one_clear_line(tmp_path: Path) -> None:
    directory = tmp_path / "a-directory.db"
    directory.mkdir()
    store = sqlite_store(directory)
    try:
        with pytest.raises(StorageError) as caught:
            await store.open()
    finally:
        await store.close()
    message = str(caught.value)
    assert "\n" not in message and "cannot open" in message and str(directory) in message


async def test_a_newer_schema_is_refused_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    await upgrade_database(f"sqlite:///{path}")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    db.close()
    with pytest.raises(StorageError) as caught:
        await upgrade_database(f"sqlite:///{path}")
    assert "\n" not in str(caught.value) and "9999" in str(caught.value)


async def test_two_stores_on_one_file_keep_one_active_session(tmp_path: Path) -> None:
    # Two processes sharing the file: BEGIN IMMEDIATE plus the partial unique index.
    path = tmp_path / "bot.db"
    stores = [sqlite_store(path), sqlite_store(path)]
    try:
        for store in stores:
            await store.open()
        attempts = [make_session(created=T0) for _ in range(6)]
        results = await asyncio.gather(
            *(stores[n % 2].start_session(s, root) for n, (s, root) in enumerate(attempts))
        )
        assert len({s.id for s in results}) == 1
        session = results[0]
        batches = await asyncio.gather(
            *(
                append(stores[n % 2], session, NewMessage(Role.USER, "alice", f"m{n}"))
                for n in range(10)
            )
        )
        assert sorted(batch[0].seq for batch in batches) == list(range(1, 11))
    finally:
        for store in stores:
            await store.close()


def test_reading_the_newest_messages_is_one_index_range_scan(tmp_path: Path) -> None:
    """Reading N newest costs the same at any history length: no scan, no sort."""
    query = _NEWEST_MESSAGES.params(branch_id="b", min_seq=1, max_seq=2**31 - 1, limit=50)
    plan = _explain(tmp_path, query)
    assert "ux_messages_branch_id_seq" in plan
    assert "TEMP B-TREE" not in plan and "SCAN messages" not in plan


def test_the_active_session_lookup_uses_the_partial_index(tmp_path: Path) -> None:
    query = sa.select(sessions).where(sessions.c.scope_key == "k", sessions.c.status == ACTIVE)
    assert "ux_sessions_active_scope_key" in _explain(tmp_path, query)


def _explain(tmp_path: Path, query: sa.Select[tuple[object, ...]]) -> str:
    path = tmp_path / "plan.db"
    asyncio.run(upgrade_database(f"sqlite:///{path}"))
    compiled = query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    with sqlite3.connect(path) as db:
        rows = db.execute(f"EXPLAIN QUERY PLAN {compiled}").fetchall()
    db.close()
    return " | ".join(str(row[-1]) for row in rows)


def test_sql_store_refuses_other_drivers_and_memory_sqlite() -> None:
    for url in ("sqlite:///:memory:", "sqlite+aiosqlite:///:memory:", "mysql+aiomysql://h/db"):
        with pytest.raises(StorageError):
            SqlStore(url)


async def test_naive_datetimes_are_refused_not_guessed(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path / "bot.db")
    try:
        await store.open()
        session, root = make_session(created=T0.replace(tzinfo=None))
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            await store.start_session(session, root)
        assert await store.get_session(session.id) is None
    finally:
        await store.close()


async def test_a_new_session_and_its_key_reuse_compiled_statements(tmp_path: Path) -> None:
    # SQLAlchemy compiles an INSERT … ON CONFLICT anew each time (no cache key): that
    # was half the cost of a first message. Every statement must come from the cache.
    store = sqlite_store(tmp_path / "bot.db")
    seen: list[tuple[str, object]] = []

    def note(conn: object, cursor: object, statement: str, *args: object) -> None:
        context = args[-2]
        seen.append((statement, getattr(context, "cache_hit", None)))

    sa.event.listen(store.sql_engine, "after_cursor_execute", note)
    try:
        await store.open()
        for number in range(3):
            await start(store)
            await store.keyring_add(KeyringEntry(f"session:{number}", b"wrapped", 1))
        for table in ("sessions", "keyring"):
            hits = [hit for sql, hit in seen if sql.startswith(f"INSERT INTO {table} ")]
            assert len(hits) == 3, seen
            assert hits[1:] == [CacheStats.CACHE_HIT] * 2, (table, hits)
    finally:
        await store.close()


async def test_a_read_that_may_be_large_runs_off_the_event_loops_thread(tmp_path: Path) -> None:
    """A page of a few rows is read right here; a long one, or a whole list, is not."""
    store = sqlite_store(tmp_path / "bot.db")
    threads: list[int] = []

    def note(*_: object) -> None:
        threads.append(threading.get_ident())

    await store.open()
    try:
        session = await start(store)
        sa.event.listen(store.sql_engine, "before_cursor_execute", note)
        here = threading.get_ident()
        await store.read_messages(session.head_branch_id, limit=50, newest_first=True)
        assert threads == [here]
        for read in (
            store.read_messages(session.head_branch_id, limit=10_000, newest_first=False),
            store.branches_of(session.id),
            store.list_checkpoints(session.id),
        ):
            threads.clear()
            await read
            assert threads and here not in threads
    finally:
        await store.close()
