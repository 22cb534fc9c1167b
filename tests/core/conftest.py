"""Store fixtures: every backend behind one parametrized ``store`` fixture.

PostgreSQL runs only when ``SESSIONBOT_TEST_POSTGRES_URL`` is set; each test then gets
a schema of its own, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from core.ids import new_id
from core.storage.backends import database_url
from core.storage.memory import MemoryStore
from core.storage.protocols import Backend, Store
from core.storage.sql.store import SqlStore

POSTGRES_URL_ENV = "SESSIONBOT_TEST_POSTGRES_URL"
BACKENDS = ("memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres))


def postgres_url() -> str:
    """Return the test PostgreSQL URL, or skip the test when none is configured."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_URL_ENV} is not set")
    return url


@asynccontextmanager
async def postgres_schema() -> AsyncIterator[tuple[sa.URL, dict[str, Any]]]:
    """Create a fresh schema; yield the URL and ``connect_args`` that select it."""
    url = database_url(postgres_url())
    schema = f"test_{new_id(12)}"
    admin = create_async_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        yield url, {"server_settings": {"search_path": schema}}
    finally:
        async with admin.begin() as conn:
            await conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


def sqlite_store(path: Path) -> SqlStore:
    """Return an unopened store on a SQLite file."""
    return SqlStore(f"sqlite:///{path}")


@asynccontextmanager
async def opened(backend: str, tmp_path: Path) -> AsyncIterator[Backend]:
    """Yield an opened, empty store of ``backend``; close (and clean) it afterwards."""
    if backend == "postgres":
        async with postgres_schema() as (url, connect_args):
            store: Backend = SqlStore(url, connect_args=connect_args)
            try:
                await store.open()
                yield store
            finally:
                await store.close()
        return
    store = MemoryStore() if backend == "memory" else sqlite_store(tmp_path / "store.db")
    try:
        await store.open()
        yield store
    finally:
        await store.close()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """An opened, empty backend (memory, SQLite, PostgreSQL) in turn."""
    async with opened(request.param, tmp_path) as opened_backend:
        yield opened_backend


@pytest.fixture
def store(backend: Backend) -> Store:
    """An opened, empty store of each backend in turn, with nothing around it."""
    return backend
