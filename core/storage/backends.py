"""Choosing and opening a store from the ``[storage] url`` setting.

* ``memory://``: :class:`~core.storage.memory.MemoryStore`, nothing kept;
* ``sqlite:///relative/path`` or ``sqlite:////absolute/path``:
  :class:`~core.storage.sql.store.SqlStore` on the standard library's ``sqlite3``
  (:mod:`core.storage.sql.runner` says why not an async driver);
* ``postgresql://user@host/db``: :class:`~core.storage.sql.store.SqlStore` on asyncpg.

``postgresql+asyncpg://`` and ``postgres://`` are accepted as well, and so is
``sqlite+aiosqlite://``, which older configurations name: it runs on ``sqlite3`` too.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from core.errors import ConfigError
from core.storage.memory import MemoryStore
from core.storage.protocols import Backend, Store
from core.storage.sql.notify import PostgresChangeFeed
from core.storage.sql.store import SqlStore

S = TypeVar("S", bound=Store)

_DRIVERS = {
    "sqlite": "sqlite+pysqlite",
    "sqlite+pysqlite": "sqlite+pysqlite",
    "sqlite+aiosqlite": "sqlite+pysqlite",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
}


def is_memory_url(url: str) -> bool:
    """Tell whether ``url`` selects the in-memory store."""
    return url.strip().lower().startswith("memory:")


def database_url(url: str) -> sa.URL:
    """Return the SQLAlchemy URL, with the store's driver, for a SQL ``[storage] url``.

    Raises:
        ConfigError: the scheme is unknown, the URL is malformed, or it names an
            in-memory SQLite database.
    """
    try:
        parsed = sa.make_url(url.strip())
    except sa_exc.ArgumentError:
        raise ConfigError(f"[storage] url {url!r} is not a database URL") from None
    driver = _DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ConfigError(
            f"[storage] url: unknown scheme {parsed.drivername!r}; "
            "use sqlite:///path, postgresql://… or memory://"
        )
    parsed = parsed.set(drivername=driver)
    if driver.startswith("sqlite") and parsed.database in (None, "", ":memory:"):
        raise ConfigError(f"[storage] url {url!r} names no SQLite file; use memory:// for no file")
    return parsed


def sqlite_path(url: str) -> Path | None:
    """Return the file of a ``sqlite:`` URL (relative to the working directory), else None.

    Raises:
        ConfigError: the URL is not a valid storage URL.
    """
    if is_memory_url(url):
        return None
    parsed = database_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database is None:
        return None
    return Path(parsed.database)


def create_store(url: str) -> Backend:
    """Return the store ``url`` selects, not yet opened.

    Raises:
        ConfigError: the URL is not a valid storage URL.
    """
    if is_memory_url(url):
        return MemoryStore()
    return SqlStore(database_url(url))


async def open_backend(url: str) -> Backend:
    """Return the backend ``url`` selects, connected and migrated, without the key layer.

    Operator tools that re-encode stored values (key rotation) work on this.

    Raises:
        ConfigError: the URL is not a valid storage URL.
        StorageError: the database cannot be reached, created or migrated.
    """
    return await opened(create_store(url))


async def opened(store: S) -> S:
    """Open ``store`` and return it; on failure, close what it opened and re-raise."""
    try:
        await store.open()
    except BaseException:
        await store.close()
        raise
    return store


async def open_change_feed(url: str) -> PostgresChangeFeed | None:
    """Return the change feed the workers on ``url``'s database share, listening.

    ``None`` for SQLite and memory: one process on its own needs none (processes
    sharing a SQLite file are told apart by the checks of :mod:`core.storage.live`).

    Raises:
        ConfigError: the URL is not a valid storage URL.
        StorageError: PostgreSQL cannot be reached.
    """
    if is_memory_url(url):
        return None
    parsed = database_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    feed = PostgresChangeFeed(parsed)
    await feed.start()
    return feed


async def upgrade_database(url: str) -> None:
    """Apply every pending migration to the database of ``url``; idempotent.

    A ``memory://`` URL has nothing to migrate.

    Raises:
        ConfigError: the URL is not a valid storage URL.
        StorageError: the database cannot be reached, created or migrated.
    """
    store = await open_backend(url)
    await store.close()
