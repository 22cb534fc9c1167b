"""``Store.append_messages(..., expect_head=...)``: a user's message lands only where it was aimed.

Run against every backend by the ``store`` fixture, like ``test_store_contract.py``;
the last tests look at the rows SQLite's direct ``sqlite3`` append path writes.
"""

from __future__ import annotations

import asyncio
import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.crypto.envelope import KeyEncryptionKey, decode_master_key, generate_master_key
from core.crypto.sealing import SealedStore
from core.errors import ConflictError, StaleSessionError
from core.ids import new_id
from core.models import ArchiveReason, Branch, Message, NewMessage, Role, Session
from core.storage.memory import MemoryStore
from core.storage.protocols import Store
from tests.core.conftest import sqlite_store
from tests.core.test_store_contract import T0, at, bot, fill, start, user


async def append_if_current(
    store: Store, session: Session, *messages: NewMessage, head: str | None = None
) -> list[Message]:
    ids = [new_id(16) for _ in messages]
    expect_head = head if head is not None else session.head_branch_id
    return await store.append_messages(session.id, messages, ids, at(5), expect_head=expect_head)


async def visible(store: Store, branch_id: str) -> list[str]:
    found = await store.read_messages(branch_id, limit=100, newest_first=False)
    return [message.content for message in found]


class TestConditionalAppend:
    async def test_the_expected_head_of_an_active_session_takes_the_append(
        self, store: Store
    ) -> None:
        session = await start(store)
        await fill(store, session, 2)
        stored = await append_if_current(store, session, user("question"), bot("answer", 3, 4))
        assert [(m.seq, m.branch_id, m.content) for m in stored] == [
            (3, session.head_branch_id, "question"),
            (4, session.head_branch_id, "answer"),
        ]
        after = await store.get_session(session.id)
        assert after is not None
        assert (after.message_count, after.tokens_in, after.tokens_out) == (4, 3, 4)
        assert after.last_activity_at == at(5)
        assert await visible(store, session.head_branch_id) == ["m1", "m2", "question", "answer"]

    async def test_an_archived_session_refuses_and_keeps_nothing(self, store: Store) -> None:
        session = await start(store)
        await fill(store, session, 2)
        assert await store.archive_session(session.id, ArchiveReason.IDLE, at(1))
        archived = await store.get_session(session.id)
        with pytest.raises(StaleSessionError):
            await append_if_current(store, session, user("too late"))
        assert await store.get_session(session.id) == archived
        assert await visible(store, session.head_branch_id) == ["m1", "m2"]
        head = await store.get_branch(session.head_branch_id)
        assert head is not None and head.last_seq == 2

    async def test_a_moved_head_refuses_and_keeps_nothing(self, store: Store) -> None:
        session = await start(store)
        await fill(store, session, 3)
        fork = Branch(new_id(10), session.id, session.head_branch_id, 1, 1, at(1))
        moved = await store.switch_head(session.id, fork, at(1))
        with pytest.raises(StaleSessionError):
            await append_if_current(store, session, user("on the old head"))
        assert await store.get_session(session.id) == moved
        assert await visible(store, session.head_branch_id) == ["m1", "m2", "m3"]
        assert await visible(store, fork.id) == []
        on_new_head = await append_if_current(store, session, user("here"), head=fork.id)
        assert [(m.seq, m.branch_id) for m in on_new_head] == [(2, fork.id)]

    async def test_stale_session_error_is_a_conflict(self, store: Store) -> None:
        session = await start(store)
        await store.archive_session(session.id, ArchiveReason.NEW, at(1))
        with pytest.raises(ConflictError):
            await append_if_current(store, session, user("x"))

    async def test_a_missing_session_is_stale_with_expect_head(self, store: Store) -> None:
        """A session deleted meanwhile (another process) ended too: the router re-resolves."""
        with pytest.raises(StaleSessionError):
            await store.append_messages("nope", [user("x")], [new_id(16)], T0, expect_head="b")

    async def test_a_missing_session_gives_an_empty_answer_without_expect_head(
        self, store: Store
    ) -> None:
        assert await store.append_messages("nope", [user("x")], [new_id(16)], T0) == []

    async def test_without_expect_head_an_archived_session_still_takes_the_answer(
        self, store: Store
    ) -> None:
        """An answer follows its question, even into a session archived meanwhile."""
        session = await start(store)
        await fill(store, session, 1)
        await store.archive_session(session.id, ArchiveReason.IDLE, at(1))
        ids = [new_id(16)]
        stored = await store.append_messages(session.id, [bot("late answer")], ids, at(2))
        assert [(m.seq, m.content) for m in stored] == [(2, "late answer")]
        after = await store.get_session(session.id)
        assert after is not None and after.message_count == 2 and not after.is_active

    async def test_a_refused_append_leaves_the_appends_beside_it_alone(self, store: Store) -> None:
        """Group-committed backends write both requests in one batch: only one is refused."""
        ended = await start(store, "k-ended")
        alive = await start(store, "k-alive")
        await store.archive_session(ended.id, ArchiveReason.NEW, at(1))
        refused, accepted = await asyncio.gather(
            append_if_current(store, ended, user("lost")),
            append_if_current(store, alive, user("kept")),
            return_exceptions=True,
        )
        assert isinstance(refused, StaleSessionError)
        assert isinstance(accepted, list) and [m.content for m in accepted] == ["kept"]
        assert await visible(store, ended.head_branch_id) == []
        assert await visible(store, alive.head_branch_id) == ["kept"]


async def test_the_sealed_store_passes_the_expected_head_through() -> None:
    store = SealedStore(
        MemoryStore(), KeyEncryptionKey(decode_master_key(generate_master_key(), source="test"))
    )
    await store.open()
    session = await start(store)
    stored = await append_if_current(store, session, user("sealed question"))
    assert [m.content for m in stored] == ["sealed question"]
    await store.archive_session(session.id, ArchiveReason.IDLE, at(1))
    with pytest.raises(StaleSessionError):
        await append_if_current(store, session, user("too late"))
    assert await visible(store, session.head_branch_id) == ["sealed question"]


# -- SQLite: the rows of the direct sqlite3 path are the rows SQLAlchemy writes ---------

SQLITE_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}")


def raw_rows(path: Path, query: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as db:
        rows = db.execute(query, params).fetchall()
    db.close()
    return rows


@pytest.mark.parametrize(
    "when",
    [
        pytest.param(datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC), id="whole-second"),
        pytest.param(datetime(2026, 3, 1, 12, 0, 0, 7, tzinfo=UTC), id="microseconds"),
        pytest.param(
            datetime(2026, 3, 1, 14, 30, 0, 250000, tzinfo=timezone(timedelta(hours=2))),
            id="another-offset",
        ),
    ],
)
@pytest.mark.parametrize(
    "metadata",
    [
        pytest.param({}, id="no-metadata"),
        pytest.param({"z": 1, "a": ["é", None, 2.5], "m": {"y": True, "b": "ü"}}, id="metadata"),
    ],
)
async def test_sqlite_appends_write_the_columns_as_sqlalchemy_does(
    tmp_path: Path, when: datetime, metadata: dict[str, object]
) -> None:
    path = tmp_path / "store.db"
    store = sqlite_store(path)
    try:
        await store.open()
        session = await start(store)
        [appended] = await store.append_messages(
            session.id,
            [NewMessage(Role.USER, "alice", "raw", metadata=metadata)],
            [new_id(16)],
            when,
            expect_head=session.head_branch_id,
        )
        # copy_messages inserts through SQLAlchemy and the schema's column types.
        copied = Message(
            id=new_id(16),
            session_id=session.id,
            branch_id=session.head_branch_id,
            seq=2,
            role=Role.USER,
            author="alice",
            content="copied",
            created_at=when,
            metadata=metadata,
        )
        await store.copy_messages([copied])
        rows = raw_rows(
            path,
            "SELECT id, created_at, metadata FROM messages WHERE session_id = ? ORDER BY seq",
            session.id,
        )
        [(_, raw_time, raw_metadata), (_, copied_time, copied_metadata)] = rows
        assert (raw_time, raw_metadata) == (copied_time, copied_metadata)
        assert isinstance(raw_time, str) and SQLITE_TIME.fullmatch(raw_time)
        assert raw_time == when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        assert raw_metadata == json.dumps(
            metadata, ensure_ascii=False, separators=(",", ":"), sort_keys=True
        )
        [read_back, _] = await store.read_messages(
            session.head_branch_id, limit=10, newest_first=False
        )
        assert read_back == appended
        assert read_back.created_at == when and read_back.created_at.tzinfo == UTC
        assert read_back.metadata == metadata
    finally:
        await store.close()


async def test_sqlite_appends_move_the_session_times_in_the_schema_format(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = sqlite_store(path)
    try:
        await store.open()
        session = await start(store)
        when = datetime(2026, 3, 1, 13, 0, 0, tzinfo=UTC)
        await store.append_messages(
            session.id, [user("hi")], [new_id(16)], when, expect_head=session.head_branch_id
        )
        [(created, updated, active)] = raw_rows(
            path,
            "SELECT created_at, updated_at, last_activity_at FROM sessions WHERE id = ?",
            session.id,
        )
        assert all(isinstance(t, str) and SQLITE_TIME.fullmatch(t) for t in (created, updated))
        assert updated == active == "2026-03-01 13:00:00.000000"
        after = await store.get_session(session.id)
        assert after is not None
        assert after.updated_at == after.last_activity_at == when
        assert after.updated_at.tzinfo == UTC
    finally:
        await store.close()
