"""Store selection by URL, start-up migrations, and migrations matching core.storage.sql.schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.crypto.opening import open_store
from core.crypto.sealing import SealedStore
from core.errors import ConfigError, StorageError
from core.storage.backends import (
    create_store,
    database_url,
    open_backend,
    sqlite_path,
    upgrade_database,
)
from core.storage.memory import MemoryStore
from core.storage.protocols import Store
from core.storage.sql.schema import FULL_TEXT_OBJECTS, metadata
from core.storage.sql.store import SqlStore
from tests.core.conftest import postgres_schema


@asynccontextmanager
async def created(url: str) -> AsyncIterator[Store]:
    store = create_store(url)
    try:
        yield store
    finally:
        await store.close()


async def test_memory_url_selects_the_memory_store() -> None:
    async with created("memory://") as store:
        assert isinstance(store, MemoryStore)
    store = await open_store("memory://")
    assert isinstance(store, SealedStore) and isinstance(store.inner, MemoryStore)
    assert not store.encrypted
    await store.close()
    backend = await open_backend("memory://")
    assert isinstance(backend, MemoryStore)
    await backend.close()
    await upgrade_database("memory://")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///sessionbot.db", "sqlite+pysqlite:///sessionbot.db"),
        ("sqlite:///./data/bot.db", "sqlite+pysqlite:///./data/bot.db"),
        ("sqlite:////var/lib/bot.db", "sqlite+pysqlite:////var/lib/bot.db"),
        # Older configurations name aiosqlite; the store runs on sqlite3 all the same.
        ("sqlite+aiosqlite:///bot.db", "sqlite+pysqlite:///bot.db"),
        ("postgresql://bot@db:5432/bot", "postgresql+asyncpg://bot@db:5432/bot"),
        ("postgresql+asyncpg://bot@db/bot", "postgresql+asyncpg://bot@db/bot"),
        ("postgres://bot@db/bot", "postgresql+asyncpg://bot@db/bot"),
    ],
)
async def test_sql_urls_select_the_sql_store_and_its_driver(url: str, expected: str) -> None:
    assert database_url(url).render_as_string() == expected
    async with created(url) as store:
        assert isinstance(store, SqlStore)
        assert store.url.render_as_string() == expected


def test_sqlite_path() -> None:
    assert sqlite_path("sqlite:///sessionbot.db") == Path("sessionbot.db")
    assert sqlite_path("sqlite:///./data/bot.db") == Path("data/bot.db")
    assert sqlite_path("sqlite:////var/lib/bot.db") == Path("/var/lib/bot.db")
    assert sqlite_path("memory://") is None
    assert sqlite_path("postgresql://bot@db/bot") is None


@pytest.mark.parametrize(
    "url",
    [
        "mysql://bot@db/bot",
        "redis://localhost",
        "postgresql+psycopg2://bot@db/bot",
        "not a url",
        "",
        "sqlite://",
        "sqlite:///:memory:",
    ],
)
async def test_bad_urls_are_one_line_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        await open_store(url)
    assert "\n" not in str(caught.value) and str(caught.value)


async def test_open_store_migrates_a_new_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite:///bot.db")
    try:
        assert await store.get_active_session("k") is None
    finally:
        await store.close()
    assert (tmp_path / "bot.db").is_file()


async def test_an_unreachable_postgres_is_one_line_storage_error() -> None:
    with pytest.raises(StorageError) as caught:
        await open_store("postgresql://bot:secret@127.0.0.1:1/bot")
    message = str(caught.value)
    assert "\n" not in message and "127.0.0.1" in message
    assert "secret" not in message


async def test_a_file_that_is_not_a_database_is_one_line_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("these are not the tables you are looking for\n" * 100)
    with pytest.raises(StorageError) as caught:
        await open_store(f"sqlite:///{path}")
    assert "\n" not in str(caught.value) and "not a database" in str(caught.value)


def _schema_drift(connection: sa.Connection) -> list[object]:
    def described(obj: object, name: str | None, kind: str, reflected: bool, to: object) -> bool:
        return name not in FULL_TEXT_OBJECTS  # made by migration 0007_search, not metadata

    opts = {"compare_type": True, "include_object": described}
    context = MigrationContext.configure(connection, opts=opts)
    return list(compare_metadata(context, metadata))


async def test_sqlite_migrations_create_exactly_core_schema(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'bot.db'}")
    await store.open()
    try:
        assert await store.run(_schema_drift) == []
    finally:
        await store.close()


@pytest.mark.postgres
async def test_postgres_migrations_create_exactly_core_schema() -> None:
    async with postgres_schema() as (url, connect_args):
        store = SqlStore(url, connect_args=connect_args)
        try:
            await store.open()
            await store.open()  # idempotent
            assert await store.run(_schema_drift) == []
        finally:
            await store.close()
