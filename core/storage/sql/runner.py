"""The boundary between the store and the database: how its SQL runs, and why so.

Each store operation is a plain function of a SQLAlchemy ``Connection`` (all its
statements, in one transaction for a write). A :class:`Runner` runs it; there is one
per database, and nothing else in the store talks to a driver:

* SQLite (:class:`SqliteRunner`): the standard library's ``sqlite3`` through a
  synchronous SQLAlchemy engine, not an async driver. Through aiosqlite every
  statement crossed to its thread and back four times (cursor, execute, fetch, close);
  on a busy two-core machine one crossing cost 80 to 250 µs, more than the SQL itself
  (bench/README.md, *Profiling notes*). So: small reads run on the event loop's own
  thread (in WAL mode a reader never waits for a writer); reads that may be large run
  on a reader thread, so they never hold the loop; every write goes through one
  :class:`~core.storage.sql.group_commit.GroupCommit` queue, and the writes queued
  while one transaction runs make up the next one: one ``BEGIN IMMEDIATE`` …
  ``COMMIT`` for all of them, appends of any number of conversations merged into one
  :func:`~core.storage.sql.append.append_batch_sqlite` call of four statements. A
  transaction of quick writes runs on the loop's thread when SQLite's lock is free
  (the thread hand-over and the GIL turns it saves were most of a lone conversation's
  time); bulk writes, and any write while another process holds the lock, run on the
  writer thread, so the loop never waits for a lock. The write-ahead log is folded
  into the file on a thread of its own (:mod:`core.storage.sql.checkpoints`).
* PostgreSQL (:class:`~core.storage.sql.postgres.PostgresRunner`): asyncpg, natively
  asynchronous, through ``AsyncConnection.run_sync``; appends group-committed through
  the same :class:`~core.storage.sql.group_commit.GroupCommit`, every other write in a
  transaction of its own.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from core.errors import ConflictError, RejectedValueError, StorageError
from core.models import Message
from core.storage.sql.append import AppendRequest, Outcome, append_batch_sqlite
from core.storage.sql.checkpoints import Checkpointer
from core.storage.sql.connections import (
    SQLITE_BEGIN,
    SQLITE_BUSY_TIMEOUT_MS,
    ThreadConnection,
    install_sqlite_hooks,
    is_busy,
    on_driver,
    on_thread,
)
from core.storage.sql.group_commit import GroupCommit

P = ParamSpec("P")
T = TypeVar("T")

Work = Callable[Concatenate[sa.Connection, P], T]
"""A store operation: everything it sends, on one connection."""


class Runner(Protocol):
    """Runs the store's units of work on one database."""

    @property
    def engine(self) -> sa.Engine:
        """The engine whose connections send every statement (listen to count them)."""
        ...

    @property
    def append_transactions(self) -> int:
        """How many transactions held appends (each may hold many)."""
        ...

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a read of a few rows."""
        ...

    async def read_large(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a read that may return many rows, never holding the event loop."""
        ...

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a write in a transaction; return after its COMMIT."""
        ...

    async def write_quick(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`write` for a write of a few rows."""
        ...

    def append(self, request: AppendRequest) -> Awaitable[list[Message]]:
        """Append messages, group-committed with other appends; done after COMMIT."""
        ...

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        ...


INLINE_BATCH = 64
"""Quick writes in a batch at most for it to run on the event loop's thread.

A run of appends, of any number of conversations, counts as one.
"""

_LOCKED = object()
"""What a transaction that did not wait returns when another process holds the lock."""


# Not frozen: one is made per write, and a frozen dataclass's __init__ costs more.
@dataclass(slots=True)
class _Job:
    """A write in the queue: a unit of work, its arguments bound."""

    work: Callable[[sa.Connection], Any]
    quick: bool = True
    """A few rows: may run on the event loop's thread."""


Write = _Job | AppendRequest
"""What the write queue holds; an append is queued as it is (one object fewer each)."""


class SqliteRunner:
    """Runs units of work on a SQLite file through ``sqlite3``; see the module's docstring.

    Args:
        url: a ``sqlite+pysqlite`` URL naming a file.
        connect_args: extra keyword arguments for ``sqlite3.connect``.
    """

    def __init__(self, url: sa.URL, connect_args: Mapping[str, Any]) -> None:
        # The write connection is used by the loop's thread and the writer thread in
        # turn, never at once: ``_write_lock`` says whose turn it is.
        self._engine = sa.create_engine(
            url, connect_args={**connect_args, "check_same_thread": False}, hide_parameters=True
        )
        install_sqlite_hooks(self._engine)
        # The runner sends BEGIN IMMEDIATE itself for writes; store reads are single
        # SELECTs, consistent on their own. Either way SQLAlchemy's BEGIN sends nothing.
        self._plain = self._engine.execution_options(**{SQLITE_BEGIN: ""})
        self._read_connection: sa.Connection | None = None
        self._large_reads = ThreadConnection(self._plain, "sessionbot-sqlite-read")
        self._write_connection: sa.Connection | None = None
        self._write_lock = threading.Lock()
        self._waits_for_lock = True
        """Whether the write connection's busy timeout is on (off while writing inline)."""
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sessionbot-sqlite-write")
        self._writes: GroupCommit[Write, Any] = GroupCommit(
            self._run_jobs, may_be_one_requests_doing=may_be_one_jobs_doing, lone_at_once=True
        )
        self.checkpointer = Checkpointer(url.database or "", self._write_lock)
        self.inline_transactions = 0
        """How many write transactions ran on the event loop's thread."""
        self.append_transactions = 0
        """How many transactions held appends (see :attr:`Runner.append_transactions`)."""

    @property
    def engine(self) -> sa.Engine:
        """See :attr:`Runner.engine`."""
        return self._engine

    @property
    def transactions(self) -> int:
        """How many write transactions have run (each may hold many writes)."""
        return self._writes.batches

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work`` right here, on a connection without a transaction of its own.

        A store read of a few rows takes less time than handing it to a thread and
        back, which also makes the thread and the loop take turns at the GIL.
        Measured on the ingest benchmark: 15 to 40 % more messages a second than
        reads on threads. The loop's reads never overlap (none awaits), so they share
        one connection, kept open.
        """
        conn = self._read_connection
        if conn is None or conn.closed or conn.invalidated:
            conn = self._read_connection = self._plain.connect()
        try:
            return _read_on(conn, work, *args, **kwargs)
        except BaseException:
            # Whatever state the failure left it in, the next read starts afresh.
            self._read_connection = None
            conn.close()
            raise

    async def read_large(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work`` on the reader thread: a read that may return many rows."""
        return await self._large_reads.run(_read_on, work, *args, **kwargs)

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``work`` in a ``BEGIN IMMEDIATE`` … ``COMMIT`` on the writer thread.

        Writes submitted meanwhile share the transaction (see :meth:`_run_jobs`). Use
        :meth:`write_quick` for a write that touches a few rows.
        """
        job = _Job(lambda conn: work(conn, *args, **kwargs), quick=False)
        return cast(T, await self._writes.submit(job))

    async def write_quick(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`write` for a write of a few rows, which may run on the event loop's thread."""
        return cast(T, await self._writes.submit(_Job(lambda conn: work(conn, *args, **kwargs))))

    def append(self, request: AppendRequest) -> Awaitable[list[Message]]:
        """See :meth:`Runner.append`: queued with every other write.

        Not a coroutine of its own: one frame fewer on the path of every message.
        """
        appended: Awaitable[list[Message]] = self._writes.submit(request)
        return appended

    async def _run_jobs(self, jobs: Sequence[Write]) -> list[Any]:
        """Run ``jobs`` one after the other in one transaction; one COMMIT for the lot.

        Each job sees the ones before it, as if they had committed one by one. If one
        raises, the whole transaction rolls back and the queue runs each job again
        alone, so only that one fails.
        """
        if _all_quick(jobs):
            outcome = self._inline(jobs)
            if outcome is not _LOCKED:
                return cast(list[Any], outcome)

        def run() -> list[Any]:
            with self._write_lock:
                return cast(list[Any], self._transaction(jobs, wait=True))

        return await on_thread(self._write_thread, run)

    def _inline(self, jobs: Sequence[Write]) -> list[Any] | object:
        """Run quick ``jobs`` right here, if the write connection and SQLite's lock are free.

        Returns :data:`_LOCKED` when the writer thread is busy or another process
        holds SQLite's write lock: the writer thread then waits for it, as long as the
        busy timeout allows, rather than the event loop.
        """
        if not self._write_lock.acquire(blocking=False):
            return _LOCKED
        try:
            outcome = self._transaction(jobs, wait=False)
        finally:
            self._write_lock.release()
        if outcome is not _LOCKED:
            self.inline_transactions += 1
        return outcome

    def _transaction(self, jobs: Sequence[Write], *, wait: bool) -> list[Any] | object:
        """Run ``jobs`` in one transaction on the write connection (its lock held).

        With ``wait=False`` SQLite's write lock is only tried: :data:`_LOCKED` if
        another process holds it, nothing done.
        """
        conn, db = self._write_connections(wait)
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not wait and is_busy(exc):
                return _LOCKED
            raise StorageError(f"cannot start a write: {exc}") from exc
        except sqlite3.Error as exc:
            raise StorageError(f"cannot start a write: {exc}") from exc
        transaction: list[sa.RootTransaction] = []
        try:
            results = self._run_in(conn, db, jobs, transaction)
            if transaction:
                transaction[0].commit()
            else:
                on_driver(db, "COMMIT")
        except BaseException:
            self._roll_back(conn, db, transaction[0] if transaction else None)
            raise
        self.checkpointer.wanted()
        return results

    def _run_in(
        self,
        conn: sa.Connection,
        db: sqlite3.Connection,
        jobs: Sequence[Write],
        transaction: list[sa.RootTransaction],
    ) -> list[Any]:
        """Each job's result; a run of appends goes to the driver in one call."""
        results: list[Any] = []
        appends: list[AppendRequest] = []
        for position, job in enumerate(jobs):
            if isinstance(job, AppendRequest):
                appends.append(job)
                following = jobs[position + 1] if position + 1 < len(jobs) else None
                if not isinstance(following, AppendRequest):
                    results += self._appended(db, appends)
                    appends = []
                continue
            if not transaction:
                # SQLAlchemy's view of the transaction BEGIN IMMEDIATE opened.
                transaction.append(conn.begin())
            results.append(job.work(conn))
        return results

    def _appended(self, db: sqlite3.Connection, requests: list[AppendRequest]) -> list[Outcome]:
        self.append_transactions += 1
        return append_batch_sqlite(db, requests)

    def _write_connections(self, wait: bool) -> tuple[sa.Connection, sqlite3.Connection]:
        """The write connection, with SQLite's busy timeout on if ``wait``."""
        conn = self._write_connection
        if conn is None or conn.closed or conn.invalidated:
            conn = self._write_connection = self._plain.connect()
            self._waits_for_lock = True
            # Commits never fold the WAL into the file themselves: the checkpointer does.
            conn.exec_driver_sql("PRAGMA wal_autocheckpoint=0")
            conn.rollback()
        db = cast(sqlite3.Connection, conn.connection.driver_connection)
        if wait != self._waits_for_lock:
            timeout = SQLITE_BUSY_TIMEOUT_MS if wait else 0
            on_driver(db, f"PRAGMA busy_timeout={timeout}")
            self._waits_for_lock = wait
        return conn, db

    def _roll_back(
        self, conn: sa.Connection, db: sqlite3.Connection, transaction: sa.RootTransaction | None
    ) -> None:
        try:
            if transaction is not None:
                transaction.rollback()  # ends SQLAlchemy's view too, even if deactivated
            if db.in_transaction:
                db.execute("ROLLBACK")
        except Exception:
            # Whatever state it is in, the next transaction starts on a new connection.
            self._write_connection = None
            conn.invalidate()

    async def close(self) -> None:
        """Finish queued writes, then close every connection."""
        await self._writes.drain()
        if self._read_connection is not None:
            self._read_connection.close()
            self._read_connection = None
        await self._large_reads.close()
        await asyncio.to_thread(self._shut_down)

    def _shut_down(self) -> None:
        self._write_thread.shutdown(wait=True)
        self.checkpointer.stop()
        with self._write_lock:
            if self._write_connection is not None:
                self._write_connection.close()
                self._write_connection = None
        self._engine.dispose()


def _read_on(conn: sa.Connection, work: Work[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    result = work(conn, *args, **kwargs)
    # Rows are fetched in full, so SQLite has already ended the statement's implicit
    # read transaction; this only resets SQLAlchemy's bookkeeping.
    conn.rollback()
    return result


def _all_quick(jobs: Sequence[Write]) -> bool:
    """Whether ``jobs`` may run on the event loop's thread (see :data:`INLINE_BATCH`)."""
    plain = 0
    for job in jobs:
        if isinstance(job, _Job):
            if not job.quick:
                return False
            plain += 1
    return plain + (plain < len(jobs)) <= INLINE_BATCH


def may_be_one_jobs_doing(error: Exception) -> bool:
    """Whether one write may have caused the error its whole batch failed with.

    A constraint violation, or an error raised by a job's own logic, is one job's; a
    driver error such as "database is locked" or "disk I/O error" is everyone's, and
    retrying each job alone would only repeat it (after the busy timeout). The
    append path raises these as the store's ConflictError and StorageError.
    """
    if isinstance(error, sa_exc.IntegrityError | ConflictError | RejectedValueError):
        return True
    if rejects_a_value(error):
        return True
    return not isinstance(error, sa_exc.DBAPIError | StorageError)


def rejects_a_value(exc: Exception) -> bool:
    """Whether the database refused a value the write holds (not its own failure).

    SQLSTATE class 22, "data exception" (such as U+0000 in PostgreSQL text); asyncpg's
    errors reach SQLAlchemy as a plain ``DBAPIError`` that carries the code.
    """
    if isinstance(exc, sa_exc.DataError):
        return True
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return isinstance(exc, sa_exc.DBAPIError) and isinstance(code, str) and code.startswith("22")
