"""How :class:`core.sql_store.SqlStore` runs its SQL: one unit of work per store call.

Each store operation is a plain function of a SQLAlchemy ``Connection`` (all its
statements, in one transaction for a write). A runner runs it:

* :class:`SqliteRunner` with the standard library's ``sqlite3``. Writes go to one
  thread of their own, group-committed: the writes queued while one transaction runs
  make up the next one (one hand-over to the thread and one COMMIT for all of them),
  and this process's writers never poll SQLite's lock (which, under contention,
  sleeps for milliseconds at a time). Reads run on the event loop's thread (see
  :meth:`SqliteRunner.read`). Through
  aiosqlite every statement crossed to its thread and back four times (cursor,
  execute, fetch, close); on a busy two-core machine one crossing cost 80 to 250 µs,
  more than the SQL itself.
* :class:`AsyncRunner` through ``AsyncConnection.run_sync`` on asyncpg, which is
  natively asynchronous.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from core.errors import ConflictError, StorageError
from core.group_commit import GroupCommit

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

P = ParamSpec("P")
T = TypeVar("T")

Work = Callable[Concatenate[sa.Connection, P], T]
"""A store operation: everything it sends, on one connection."""

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

_SQLITE_BEGIN = "sessionbot_sqlite_begin"
"""Execution option: the statement a SQLite transaction starts with (default ``BEGIN``)."""


class SqliteRunner:
    """Runs operations on a SQLite file through ``sqlite3``: writes on a thread, reads here.

    Args:
        url: a ``sqlite+pysqlite`` URL naming a file.
        connect_args: extra keyword arguments for ``sqlite3.connect``.
    """

    def __init__(self, url: sa.URL, connect_args: Mapping[str, Any]) -> None:
        self.engine = sa.create_engine(url, connect_args=dict(connect_args))
        install_sqlite_hooks(self.engine)
        self._writer = self.engine.execution_options(**{_SQLITE_BEGIN: "BEGIN IMMEDIATE"})
        # Store reads are single SELECTs, consistent on their own: no BEGIN.
        self._reader = self.engine.execution_options(**{_SQLITE_BEGIN: ""})
        self._read_connection: sa.Connection | None = None
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sessionbot-sqlite-write")
        self._writes: GroupCommit[_Job, Any] = GroupCommit(
            self._run_jobs, may_be_one_requests_doing=_may_be_one_jobs_doing
        )

    @property
    def transactions(self) -> int:
        """How many write transactions have run (each may hold many writes)."""
        return self._writes.batches

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work`` on a connection without a transaction of its own, right here.

        Reads run on the event loop's own thread. In WAL mode a reader never waits
        for a writer, and a store read (one indexed SELECT, a page of rows at most)
        takes less time than handing it to a thread and back, which also makes the
        thread and the loop take turns at the GIL. Measured on the ingest benchmark:
        15 to 40 % more messages a second than reads on threads. The loop's reads
        never overlap (none awaits), so they share one connection, kept open.
        """
        conn = self._read_connection
        if conn is None or conn.closed or conn.invalidated:
            conn = self._read_connection = self._reader.connect()
        try:
            result = work(conn, *args, **kwargs)
        except BaseException:
            # Whatever state the failure left it in, the next read starts afresh.
            self._read_connection = None
            conn.close()
            raise
        # Rows are fetched in full, so SQLite has already ended the statement's
        # implicit read transaction; this only resets SQLAlchemy's bookkeeping.
        conn.rollback()
        return result

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work`` in a ``BEGIN IMMEDIATE`` … ``COMMIT`` transaction; return after COMMIT.

        Writes submitted meanwhile (other conversations' sessions, keys, appends)
        share the transaction: see :meth:`_run_jobs`.
        """

        def job(conn: sa.Connection) -> T:
            return work(conn, *args, **kwargs)

        return cast(T, await self._writes.submit(job))

    async def _run_jobs(self, jobs: Sequence[_Job]) -> list[Any]:
        """Run ``jobs`` one after the other in one transaction, on the writer thread.

        Each job sees the ones before it, as if they had committed one by one. If
        one raises, the whole transaction rolls back and
        :class:`~core.group_commit.GroupCommit` runs each job again alone, so only
        that one fails. One hand-over to the thread and one COMMIT for the lot.
        """

        def run() -> list[Any]:
            with self._writer.begin() as conn:
                return [job(conn) for job in jobs]

        return await _on(self._write_thread, run)

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        await self._writes.drain()
        if self._read_connection is not None:
            self._read_connection.close()
            self._read_connection = None
        await asyncio.to_thread(self._shut_down)

    def _shut_down(self) -> None:
        self._write_thread.shutdown(wait=True)
        self.engine.dispose()


class AsyncRunner:
    """Runs operations through an async engine (asyncpg), with ``run_sync``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.async_engine = engine
        self.engine = engine.sync_engine

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work`` on a pooled connection."""
        async with self.async_engine.connect() as conn:
            return await conn.run_sync(work, *args, **kwargs)

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work`` in one transaction."""
        async with self.async_engine.begin() as conn:
            return await conn.run_sync(work, *args, **kwargs)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.async_engine.dispose()


_Job = Callable[[sa.Connection], Any]
"""A write, its arguments bound: what the write queue holds."""


def _may_be_one_jobs_doing(error: Exception) -> bool:
    # A constraint violation, or an error raised by a job's own logic, is one job's;
    # a driver error such as "database is locked" or "disk I/O error" is everyone's,
    # and retrying each job alone would only repeat it (after the busy timeout).
    # Work on the driver's own connection (core.sql_append) raises these as the
    # store's ConflictError and StorageError.
    if isinstance(error, sa_exc.IntegrityError | ConflictError):
        return True
    return not isinstance(error, sa_exc.DBAPIError | StorageError)


async def _on(executor: ThreadPoolExecutor, run: Callable[[], T]) -> T:
    # A cancelled caller stops waiting, but the operation still finishes on its
    # thread: a write commits or rolls back as a whole, never halfway.
    return await asyncio.get_running_loop().run_in_executor(executor, run)


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
        begin = connection.get_execution_options().get(_SQLITE_BEGIN, "BEGIN")
        if begin:
            connection.exec_driver_sql(begin)
