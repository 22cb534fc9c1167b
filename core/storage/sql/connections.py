"""SQLite connections as the runner uses them: pragmas, who sends BEGIN, a thread of their own."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event

from core.errors import ConflictError, StorageError

P = ParamSpec("P")
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a SQLite writer waits for another process's write lock before failing."""

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # In WAL mode NORMAL loses no committed data on an application crash, only
    # possibly the last transactions on a power loss, and skips an fsync per commit.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
)

SQLITE_BEGIN = "sessionbot_sqlite_begin"
"""Execution option: the statement a SQLite transaction starts with (default ``BEGIN``)."""


def install_sqlite_hooks(engine: sa.Engine) -> None:
    """Set SQLite's pragmas on every new connection and take over ``BEGIN``."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # The driver would otherwise emit a deferred BEGIN on its own before the
        # first write; with it off, the "begin" hook below decides the kind.
        dbapi_connection.isolation_level = None
        try:
            cursor = dbapi_connection.cursor()
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()
        except BaseException:
            # The pool drops a connection whose hook failed without closing it.
            dbapi_connection.close()
            raise

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        begin = connection.get_execution_options().get(SQLITE_BEGIN, "BEGIN")
        if begin:
            connection.exec_driver_sql(begin)


def is_busy(error: sqlite3.OperationalError) -> bool:
    """Whether another connection holds the lock (``database is locked``)."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def on_driver(db: sqlite3.Connection, sql: str) -> None:
    """Run one statement on the driver, its errors as the store's."""
    try:
        db.execute(sql)
    except sqlite3.IntegrityError as exc:  # a deferred constraint, checked at COMMIT
        raise ConflictError(f"{sql.split()[0].lower()} failed: {exc}") from exc
    except sqlite3.Error as exc:
        raise StorageError(f"{sql.split()[0].lower()} failed: {exc}") from exc


class ThreadConnection:
    """One connection used only on one thread of its own (SQLite's large reads)."""

    def __init__(self, engine: sa.Engine, name: str) -> None:
        self._engine = engine
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=name)
        self._connection: sa.Connection | None = None

    async def run(
        self, work: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``work`` on the thread's connection (opened on first use)."""

        def run() -> T:
            conn = self._connection
            if conn is None or conn.closed or conn.invalidated:
                conn = self._connection = self._engine.connect()
            try:
                return work(conn, *args, **kwargs)
            except BaseException:
                self._connection = None
                conn.close()
                raise

        return await on_thread(self._thread, run)

    async def close(self) -> None:
        """Close the connection on its thread, then end the thread."""

        def close() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await on_thread(self._thread, close)
        self._thread.shutdown(wait=True)


async def on_thread(executor: ThreadPoolExecutor, run: Callable[[], T]) -> T:
    """Run ``run`` on ``executor``'s thread.

    A cancelled caller stops waiting, but the operation still finishes on its thread:
    a write commits or rolls back as a whole, never halfway.
    """
    return await asyncio.get_running_loop().run_in_executor(executor, run)
