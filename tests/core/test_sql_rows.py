"""The row mapping: every value survives a round trip, and both write paths store the same bytes.

:mod:`core.storage.sql.rows` is the one mapping between the core's values and rows;
the SQLite append path formats its parameters with the column types' own bind
processors. Here each value goes in and comes back equal, on SQLite and PostgreSQL,
and a message written through the driver path is stored exactly as SQLAlchemy
stores it.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from core.models import (
    ArchiveReason,
    Branch,
    ChannelSettings,
    Checkpoint,
    Message,
    NewMessage,
    Role,
    SessionStatus,
)
from core.storage.keyring import KeyringEntry
from core.storage.message_times import TICK
from core.storage.sql import rows
from core.storage.sql.append import AppendRequest, append_batch_sqlite
from core.storage.sql.schema import (
    UtcDateTime,
    branches,
    channel_settings,
    checkpoints,
    keyring,
    messages,
    sqlite_time_text,
)
from core.storage.sql.schema import sessions as sessions_table
from core.storage.sql.store import SqlStore
from tests.core.conftest import postgres_schema, sqlite_store
from tests.core.test_store_contract import T0, make_session

# Another zone on purpose: stored as UTC, read back as the same instant.
LATER = datetime(2026, 3, 1, 15, 4, 5, 6, tzinfo=timezone(timedelta(hours=-5)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    if request.param == "postgres":
        async with postgres_schema() as (url, connect_args):
            opened = SqlStore(url, connect_args=connect_args)
            await opened.open()
            try:
                yield opened
            finally:
                await opened.close()
        return
    opened = sqlite_store(tmp_path / "rows.db")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def round_trip(
    store: SqlStore, table: sa.Table, values: dict[str, Any], key: str
) -> sa.RowMapping:
    def write_then_read(conn: sa.Connection) -> sa.RowMapping:
        conn.execute(table.insert(), values)
        query = sa.select(table).where(table.c[key] == values[key])
        return conn.execute(query).mappings().one()

    return await store.run(write_then_read)


async def test_a_session_with_every_field_set_comes_back_equal(store: SqlStore) -> None:
    session, root = make_session(
        status=SessionStatus.ARCHIVED,
        title="Ünïcode title",
        tags=("a", "b"),
        metadata={"k": "v", "n": 1},
        tokens_in=2**40,
        tokens_out=3,
        message_count=7,
        archived_at=LATER,
        archive_reason=ArchiveReason.IDLE,
        resumed_at=LATER,
        is_direct=True,
    )
    row = await round_trip(store, sessions_table, rows.session_values(session), "id")
    assert rows.session_from_row(row) == session
    branch = Branch("b2", session.id, root.id, 3, 9, LATER)
    await round_trip(store, branches, rows.branch_values(root), "id")
    assert (
        rows.branch_from_row(await round_trip(store, branches, rows.branch_values(branch), "id"))
        == branch
    )


async def test_messages_checkpoints_keys_and_settings_come_back_equal(store: SqlStore) -> None:
    session, root = make_session()
    await store.start_session(session, root)
    message = _message(session.id, root.id, 1, Role.SYSTEM, "text ✓", {"id": "x"}, tokens=(4, 5))
    found = await round_trip(store, messages, rows.message_values(message), "id")
    assert rows.message_from_row(tuple(found[c.key] for c in rows.MESSAGE_COLUMNS)) == message
    checkpoint = Checkpoint(
        id="c1",
        session_id=session.id,
        branch_id=root.id,
        seq=1,
        name="name",
        description="about",
        auto=True,
        created_by="alice",
        created_at=LATER,
    )
    found = await round_trip(store, checkpoints, rows.checkpoint_values(checkpoint), "id")
    assert rows.checkpoint_from_row(found) == checkpoint
    entry = KeyringEntry("session:x", b"\x00wrapped", 2, b"next", 3)
    found = await round_trip(store, keyring, rows.keyring_values(entry), "name")
    assert rows.keyring_from_row(found) == entry
    settings = ChannelSettings(
        channel_key="tg:c:1",
        updated_at=LATER,
        scope="per-peer",
        daily_reset_time="04:00",
        idle_reset_minutes=30,
        timezone="Asia/Tokyo",
    )
    found = await round_trip(store, channel_settings, rows.settings_values(settings), "channel_key")
    assert rows.settings_from_row(found) == settings


def _stored_messages(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        found = db.execute("SELECT * FROM messages ORDER BY seq").fetchall()
    db.close()
    return found


async def test_the_driver_path_stores_what_sqlalchemy_stores(tmp_path: Path) -> None:
    """Messages through append_batch_sqlite, their twins through SQLAlchemy: same bytes."""
    stored: dict[str, list[tuple[Any, ...]]] = {}
    for name, write in (("driver", _append_on_driver), ("sqlalchemy", _insert_with_sqlalchemy)):
        path = tmp_path / f"{name}.db"
        store = sqlite_store(path)
        await store.open()
        try:
            session, _ = make_session(session_id="s1", head_branch_id="root")
            await store.start_session(session, Branch("root", "s1", None, 0, 0, T0))
            await store.run(write, "root")
        finally:
            await store.close()
        stored[name] = _stored_messages(path)
    assert stored["driver"] == stored["sqlalchemy"]
    assert len(stored["driver"]) == len(_NEW)


_NEW = (
    NewMessage(Role.USER, "alice", "hello"),
    NewMessage(Role.ASSISTANT, "bot", "ünïcode ✓", {"platform_id": "42", "z": '"quoted"'}, 1, 2),
)


def _append_on_driver(conn: sa.Connection, branch_id: str) -> None:
    db = conn.connection.driver_connection
    assert isinstance(db, sqlite3.Connection)
    request = AppendRequest("s1", _NEW, [f"m{seq}" for seq in range(1, len(_NEW) + 1)], LATER)
    [outcome] = append_batch_sqlite(db, [request])
    assert isinstance(outcome, list) and [m.branch_id for m in outcome] == [branch_id] * 2


def _insert_with_sqlalchemy(conn: sa.Connection, branch_id: str) -> None:
    twins = [
        _message(
            "s1",
            branch_id,
            seq,
            new.role,
            new.content,
            new.metadata,
            new.author,
            tokens=(new.tokens_in, new.tokens_out),
            # One append's messages get strictly increasing times.
            created_at=LATER + (seq - 1) * TICK,
        )
        for seq, new in enumerate(_NEW, start=1)
    ]
    conn.execute(messages.insert(), [rows.message_values(m) for m in twins])
    # The append path moves the counters too; so that both files match, move them here.
    conn.execute(branches.update().values(last_seq=len(_NEW)))


def _message(
    session_id: str,
    branch_id: str,
    seq: int,
    role: Role,
    content: str,
    metadata: Mapping[str, Any],
    author: str = "alice",
    *,
    tokens: tuple[int, int] = (0, 0),
    created_at: datetime = LATER,
) -> Message:
    return Message(
        id=f"m{seq}",
        session_id=session_id,
        branch_id=branch_id,
        seq=seq,
        role=role,
        author=author,
        content=content,
        created_at=created_at,
        metadata=dict(metadata),
        tokens_in=tokens[0],
        tokens_out=tokens[1],
    )


def test_driver_values_format_times_in_utc_and_refuse_naive_ones() -> None:
    message = _message("s", "b", 1, Role.USER, "t", {})
    row = rows.message_params(message, rows.SQLITE_JSON, rows.BatchTimes())
    assert row[-1] == LATER.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    assert row[7] == "{}"
    naive = dataclasses.replace(message, created_at=T0.replace(tzinfo=None))
    with pytest.raises(ValueError, match="naive datetime"):
        rows.message_params(naive, rows.SQLITE_JSON, rows.BatchTimes())


@pytest.mark.parametrize(
    "when",
    [LATER, T0, datetime(2026, 1, 1, tzinfo=UTC), datetime(1999, 12, 31, 23, 59, 59, 999999, UTC)],
)
def test_the_sqlite_time_text_is_what_sqlalchemy_writes(when: datetime) -> None:
    """UtcDateTime formats SQLite's text in one step; SQLAlchemy's DATETIME agrees."""
    dialect = sqlite.dialect()
    naive = UtcDateTime().process_bind_param(when, dialect)
    standard = sqlite.DATETIME().bind_processor(dialect)
    assert standard is not None
    assert sqlite_time_text(when) == standard(naive)
    assert rows.sqlite_processor(UtcDateTime()) is sqlite_time_text
