"""A :class:`~core.storage.protocols.Store` on SQLite or PostgreSQL, through SQLAlchemy Core.

:class:`SqlStore` is composed of one part per idea, each in a module of its own:
:mod:`~core.storage.sql.sessions` (sessions, channel settings),
:mod:`~core.storage.sql.history` (branches, messages, checkpoints),
:mod:`~core.storage.sql.keyring`, :mod:`~core.storage.sql.api_keys`,
:mod:`~core.storage.sql.sweeps` (scheduled resets), :mod:`~core.storage.sql.deliveries`
(redeliveries dropped) and :mod:`~core.storage.sql.workers` (heartbeats). Rows are
mapped in :mod:`~core.storage.sql.rows`; every call's SQL runs through the one
:class:`~core.storage.sql.runner.Runner` of its database
(:mod:`core.storage.sql.runner` says how, and why).

Every method that writes runs in one transaction of its own or shared. On SQLite a
writing transaction starts with ``BEGIN IMMEDIATE``: a deferred one that first reads
and then writes can fail at once with ``SQLITE_BUSY`` when another connection wrote in
between, whereas an immediate one waits (up to the busy timeout) for the write lock
before reading anything. On PostgreSQL, rows that a transaction reads before deciding
what to write are locked with ``SELECT … FOR UPDATE``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa

from core.errors import StorageError
from core.storage.sql.activity import SqlActivity
from core.storage.sql.api_keys import SqlApiKeys
from core.storage.sql.connections import SQLITE_BUSY_TIMEOUT_MS
from core.storage.sql.deliveries import SqlDeliveries
from core.storage.sql.history import SqlHistory
from core.storage.sql.keyring import SqlKeyring
from core.storage.sql.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    prepare_sqlite_file,
    schema_revision,
    upgrade_to_head,
)
from core.storage.sql.postgres import PostgresRunner
from core.storage.sql.runner import Runner, SqliteRunner
from core.storage.sql.schema import SCHEMA_REVISION
from core.storage.sql.search import SqlSearch
from core.storage.sql.sessions import SqlSessions
from core.storage.sql.sweeps import SqlSweeps
from core.storage.sql.units import DRIVER_ERRORS, storage_error
from core.storage.sql.workers import SqlWorkers

__all__ = ["MIGRATIONS_DIR", "SQLITE_BUSY_TIMEOUT_MS", "SqlStore", "alembic_config"]

P = ParamSpec("P")
T = TypeVar("T")

_SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite", "sqlite+aiosqlite")
"""SQLite URLs: all run on ``sqlite3`` (aiosqlite is accepted from older configs)."""
_POSTGRES_DRIVERS = ("postgresql", "postgresql+asyncpg")


class SqlStore(
    SqlSessions,
    SqlHistory,
    SqlSearch,
    SqlKeyring,
    SqlSweeps,
    SqlDeliveries,
    SqlWorkers,
    SqlApiKeys,
    SqlActivity,
):
    """Keeps sessions in a SQL database through SQLAlchemy Core.

    Args:
        url: a SQLAlchemy URL: ``sqlite:///path`` (run through the standard
            library's ``sqlite3``) or ``postgresql+asyncpg://user@host/db``.
            :func:`core.storage.backends.create_store` builds it from the configured
            ``[storage] url``.
        connect_args: extra keyword arguments for the driver's ``connect``, such as
            asyncpg's ``server_settings``.

    Raises:
        StorageError: the URL names another driver or an in-memory SQLite database.
    """

    def __init__(self, url: str | sa.URL, *, connect_args: Mapping[str, Any] | None = None) -> None:
        self.url = sa.make_url(url)
        self._sqlite_path: Path | None = None
        runner: Runner
        if self.url.drivername in _SQLITE_DRIVERS:
            database = self.url.database or ""
            if database in ("", ":memory:") or database.startswith("file:"):
                raise StorageError("SQLite needs a file path; use memory:// for no file")
            self._sqlite_path = Path(database)
            runner = SqliteRunner(self.url.set(drivername="sqlite+pysqlite"), connect_args or {})
        elif self.url.drivername in _POSTGRES_DRIVERS:
            postgres = self.url.set(drivername="postgresql+asyncpg")
            runner = PostgresRunner(postgres, connect_args or {})
        else:
            raise StorageError(f"unsupported database driver {self.url.drivername!r}")
        super().__init__(runner, self.url.render_as_string(hide_password=True))

    def __repr__(self) -> str:
        return f"SqlStore({self._where})"

    @property
    def sql_engine(self) -> sa.Engine:
        """The engine whose connections send every statement of the store's calls.

        Listen to its events to count or trace them (``before_cursor_execute``).
        """
        return self._runner.engine

    @property
    def group_commits(self) -> int:
        """How many transactions have held appends so far (each may hold many)."""
        return self._runner.append_transactions

    @property
    def write_transactions(self) -> int | None:
        """How many write transactions SQLite's runner has run, all writes together.

        ``None`` on PostgreSQL, where each write but appends has a transaction of its own.
        """
        return self._runner.transactions if isinstance(self._runner, SqliteRunner) else None

    async def open(self) -> None:
        """Create the SQLite file if needed and migrate the schema to the newest version.

        The revision is checked with one query first; Alembic is loaded only when a
        migration has to run.

        Raises:
            StorageError: the database cannot be opened or migrated.
        """
        if self._sqlite_path is not None:
            prepare_sqlite_file(self._sqlite_path)
        try:
            if await self._runner.read(schema_revision) != SCHEMA_REVISION:
                await self._runner.write(upgrade_to_head, self._where)
        except DRIVER_ERRORS as exc:
            raise storage_error(f"cannot open {self._where}", exc) from exc

    async def schema_current(self) -> bool:
        """See :meth:`core.storage.protocols.Store.schema_current`.

        Raises:
            StorageError: the database cannot be reached.
        """
        try:
            return bool(await self._runner.read(schema_revision) == SCHEMA_REVISION)
        except DRIVER_ERRORS as exc:
            raise storage_error(f"cannot read the schema of {self._where}", exc) from exc

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        await self._runner.close()

    async def run(
        self, work: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run SQL of one's own (tools, benchmarks, tests) in a transaction of its own.

        ``work`` is a function of a SQLAlchemy connection; it runs the way the store's
        own bulk writes do (on SQLite, on the writer thread).

        Raises:
            ConflictError: a constraint refused a statement.
            StorageError: the database failed.
        """
        return await self._write(work, *args, **kwargs)
