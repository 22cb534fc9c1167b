"""No log line, at any level, holds what users wrote: a run full of failing cases, scanned.

The store here is the bare SQL backend (no sealing layer, which would escape U+0000),
so values reach the database as users wrote them and PostgreSQL refuses some; the
SQL statements are logged too, as ``log_level = "debug"`` logs them.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from core.storage.protocols import Backend
from core.storage.sql.store import SqlStore
from tests.commands.helpers import Chat
from tests.core.conftest import postgres_schema, sqlite_store

SECRETS = ("pelican-7341", "heron-5520", "ibis-9182", "stork-2764", "crane-4410")


Execute = Callable[[str], Awaitable[None]]


@pytest.fixture
def statements_logged() -> Iterator[None]:
    """Log every SQL statement, as ``log_level = "debug"`` does (set before connecting)."""
    engine_log = logging.getLogger("sqlalchemy.engine")
    engine_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        engine_log.setLevel(logging.WARNING)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def bare(
    request: pytest.FixtureRequest, tmp_path: Path, statements_logged: None
) -> AsyncIterator[tuple[Backend, Execute]]:
    """A bare SQL store, and a way to run a statement on its database from outside."""
    if request.param == "sqlite":
        path = tmp_path / "bot.db"

        async def on_file(statement: str) -> None:
            with sqlite3.connect(path) as db:
                db.execute(statement)
            db.close()

        store = sqlite_store(path)
        await store.open()
        try:
            yield store, on_file
        finally:
            await store.close()
        return
    async with postgres_schema() as (url, connect_args):
        other = create_async_engine(url, connect_args=connect_args)

        async def on_server(statement: str) -> None:
            async with other.begin() as conn:
                await conn.execute(sa.text(statement))

        store = SqlStore(url, connect_args=connect_args)
        await store.open()
        try:
            yield store, on_server
        finally:
            await store.close()
            await other.dispose()


async def test_failing_cases_log_ids_and_reasons_never_the_text(
    bare: tuple[Backend, Execute], caplog: pytest.LogCaptureFixture
) -> None:
    store, execute = bare
    chat = Chat(store=store)
    caplog.set_level(logging.DEBUG)
    replies = [
        await chat.say(f"plain {SECRETS[0]}"),
        await chat.say(f"nul {SECRETS[1]}\x00 byte"),
        await chat.say(f'/session title "{SECRETS[2]}\x00"'),
        await chat.say(f"/checkpoint save {SECRETS[3]}\x00"),
    ]
    await execute("DROP TABLE checkpoints")  # a broken database, mid-conversation
    replies.append(await chat.say(f"/checkpoint save {SECRETS[4]}"))
    assert any(SECRETS[0] in reply for reply in replies)  # the echo: the text did flow
    assert "something went wrong" in replies[-1]
    statements = [r for r in caplog.records if r.name.startswith("sqlalchemy.engine")]
    assert statements  # the statements were logged, so their values had a chance to leak
    assert any(r.exc_info for r in caplog.records)  # and a traceback, with its causes
    for secret in SECRETS:
        assert secret not in caplog.text
