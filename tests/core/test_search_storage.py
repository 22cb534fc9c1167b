"""Search in stored databases: migrating an existing one, encryption, key work.

* a database made before search (revision 0001, with messages) migrates and its
  messages are found, on SQLite and PostgreSQL;
* an encrypted SQLite database's file, ``-wal`` and indexes hold no searched word in
  clear, while search finds it;
* ``keys rotate`` re-keys the blind index (search works under the new key, the old
  terms are gone, a second run finishes a cut-off one); ``keys encrypt-existing``
  builds it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from core.crypto.envelope import KeyEncryptionKey, decode_master_key, generate_master_key
from core.crypto.rotation import encrypt_existing, rotate_master_key
from core.crypto.sealing import SealedStore
from core.models import NewMessage, Role
from core.storage.protocols import Backend, Store
from core.storage.search import BlindTerms, TextSearch
from core.storage.sql import schema
from core.storage.sql.migrate import alembic_config
from core.storage.sql.store import SqlStore
from tests.core.conftest import postgres_schema, sqlite_store
from tests.core.test_store_contract import append, start

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
WORD = "xylophonic"


def new_key() -> bytes:
    return decode_master_key(generate_master_key(), source="test")


async def found(store: Store, session_id: str, *words: str) -> list[str]:
    search = TextSearch(session_ids=(session_id,), words=words)
    return [m.content for m in await store.search_messages(search, limit=10)]


def _old_database(conn: sa.Connection) -> None:
    """Make the schema of revision 0001 and store one session with two messages."""
    command.upgrade(alembic_config(conn), "0001")
    times = {"created_at": T0, "updated_at": T0, "last_activity_at": T0}
    conn.execute(
        schema.sessions.insert(),
        {
            "id": "s1",
            "scope_key": "console:c:c1:u:alice",
            "status": "active",
            "owner": "console:alice",
            "platform": "console",
            "channel_id": "c1",
            "head_branch_id": "b1",
            "message_count": 2,
            "tags": [],
            "metadata": {},
            "tokens_in": 0,
            "tokens_out": 0,
            "channel_key": "console:c:c1",
            "is_direct": False,
            **times,
        },
    )
    conn.execute(
        schema.branches.insert(),
        {
            "id": "b1",
            "session_id": "s1",
            "parent_id": None,
            "fork_seq": 0,
            "last_seq": 2,
            "created_at": T0,
        },
    )
    for seq, text in ((1, f"an old {WORD} message"), (2, "another one")):
        conn.execute(
            schema.messages.insert(),
            {
                "id": f"m{seq}",
                "session_id": "s1",
                "branch_id": "b1",
                "seq": seq,
                "role": "user",
                "author": "alice",
                "content": text,
                "metadata": {},
                "tokens_in": 0,
                "tokens_out": 0,
                "created_at": T0,
            },
        )


async def test_an_existing_sqlite_database_migrates_and_is_searchable(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        _old_database(conn)
    engine.dispose()
    store = sqlite_store(path)
    await store.open()
    try:
        assert await found(store, "s1", WORD) == [f"an old {WORD} message"]
    finally:
        await store.close()


@pytest.mark.postgres
async def test_an_existing_postgres_database_migrates_and_is_searchable() -> None:
    async with postgres_schema() as (url, connect_args):
        engine = create_async_engine(url, connect_args=connect_args)
        async with engine.begin() as conn:
            await conn.run_sync(_old_database)
        await engine.dispose()
        store = SqlStore(url, connect_args=connect_args)
        await store.open()
        try:
            assert await found(store, "s1", WORD) == [f"an old {WORD} message"]
        finally:
            await store.close()


def _raw_bytes(path: Path) -> bytes:
    parts = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return b"".join(p.read_bytes() for p in parts if p.exists())


async def test_an_encrypted_database_holds_no_searched_word_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "sealed.db"
    backend = sqlite_store(path)
    await backend.open()
    try:
        store = SealedStore(backend, KeyEncryptionKey(new_key()))
        await store.check_key()
        session = await start(store)
        await append(store, session, NewMessage(Role.USER, "alice", f"the {WORD} Zanzibar tune"))
        assert await found(store, session.id, WORD, "zanzibar") == [f"the {WORD} Zanzibar tune"]
        raw = _raw_bytes(path)
        assert path.with_name(path.name + "-wal").exists()  # the scan covers the log too
        for needle in (WORD, "Zanzibar", "zanzibar"):
            assert needle.encode() not in raw
            assert needle.encode("utf-16-le") not in raw
        assert (
            await backend.search_messages(TextSearch((session.id,), (WORD,)), limit=10) == []
        )  # the plain full-text index has nothing of it
    finally:
        await backend.close()


async def _sealed_session(backend: Backend, key: bytes, text: str) -> str:
    store = SealedStore(backend, KeyEncryptionKey(key))
    await store.check_key()
    session = await start(store)
    await append(store, session, NewMessage(Role.USER, "alice", text))
    return session.id


async def _reader(backend: Backend, key: bytes) -> SealedStore:
    store = SealedStore(backend, KeyEncryptionKey(key))
    await store.check_key()
    return store


async def _blind_versions(store: SqlStore) -> list[int]:
    def versions(conn: sa.Connection) -> list[int]:
        query = sa.select(schema.blind_index.c.key_version).distinct()
        return sorted(conn.execute(query).scalars())

    return await store.run(versions)


async def test_rotation_rekeys_the_blind_index(tmp_path: Path) -> None:
    backend = sqlite_store(tmp_path / "rotate.db")
    await backend.open()
    try:
        old, new = new_key(), new_key()
        session_id = await _sealed_session(backend, old, f"rotating {WORD}")
        assert await _blind_versions(backend) == [1]
        report = await rotate_master_key(backend, old, new)
        assert report.version == 2
        assert await _blind_versions(backend) == [2]
        assert await found(await _reader(backend, new), session_id, WORD) == [f"rotating {WORD}"]
        # A run cut off after its commit leaves old terms; the next run drops them.
        await backend.add_blind_terms([BlindTerms(session_id, "m-old", 1, ("stale",))])
        assert (await rotate_master_key(backend, old, new)).staged == 0
        assert await _blind_versions(backend) == [2]
        assert await found(await _reader(backend, new), session_id, WORD) == [f"rotating {WORD}"]
    finally:
        await backend.close()


async def test_encrypt_existing_builds_the_blind_index(tmp_path: Path) -> None:
    backend = sqlite_store(tmp_path / "plain.db")
    await backend.open()
    try:
        plain = SealedStore(backend, None)
        session = await start(plain)
        await append(plain, session, NewMessage(Role.USER, "alice", f"plain {WORD} words"))
        assert await found(plain, session.id, WORD) == [f"plain {WORD} words"]
        key = new_key()
        report = await encrypt_existing(backend, key)
        assert report.messages == 1
        assert await backend.search_messages(TextSearch((session.id,), (WORD,)), limit=10) == []
        assert await found(await _reader(backend, key), session.id, WORD) == [f"plain {WORD} words"]
        again = await encrypt_existing(backend, key)  # resumable: a second run changes nothing
        assert again.messages == 0
        assert await found(await _reader(backend, key), session.id, WORD) == [f"plain {WORD} words"]
    finally:
        await backend.close()
