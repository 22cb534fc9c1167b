"""How :class:`core.storage.sql.store.SqlStore` runs its SQL: one unit of work per store call.

Each store operation is a plain function of a SQLAlchemy ``Connection`` (all its
statements, in one transaction for a write). A runner runs it:

* :class:`SqliteRunner` with the standard library's ``sqlite3``. Writes are
  group-committed on one connection kept open: the writes queued while one
  transaction runs make up the next one (one COMMIT for all of them), and this
  process's writers never poll SQLite's lock (which, under contention, sleeps for
  milliseconds at a time). A transaction of quick writes (appends, a new session, a
  key) runs on the event loop's thread when the connection and SQLite's lock are free;
  bulk writes, and any write while another process holds the lock, run on the writer
  thread. Reads run on the event loop's thread (see :meth:`SqliteRunner.read`).
  Through aiosqlite every statement crossed to its thread and back four times
  (cursor, execute, fetch, close); on a busy two-core machine one crossing cost 80 to
  250 µs, more than the SQL itself.
* :class:`AsyncRunner` through ``AsyncConnection.run_sync`` on asyncpg, which is
  natively asynchronous.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy import exc as sa_exc

from core.errors import ConflictError, StorageError
from core.storage.sql.group_commit import GroupCommit

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

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
    """Runs operations on a SQLite file through ``sqlite3``: writes group-committed, reads here.

    Writes share one connection to the file, kept open. A batch of writes runs in one
    ``BEGIN IMMEDIATE`` … ``COMMIT`` on it: on the event loop's thread when every write
    in it is quick (:meth:`write_quick`, :meth:`write_on_driver`; at most
    :data:`INLINE_BATCH` of them) and the lock is free, otherwise on the writer thread.
    Folding the write-ahead log into the file happens on a thread of its own (see
    :class:`Checkpointer`).

    Args:
        url: a ``sqlite+pysqlite`` URL naming a file.
        connect_args: extra keyword arguments for ``sqlite3.connect``.
    """

    def __init__(self, url: sa.URL, connect_args: Mapping[str, Any]) -> None:
        # The write connection is used by the loop's thread and the writer thread in
        # turn, never at once: ``_write_lock`` says whose turn it is.
        self.engine = sa.create_engine(
            url, connect_args={**connect_args, "check_same_thread": False}
        )
        install_sqlite_hooks(self.engine)
        # The runner sends BEGIN itself; store reads are single SELECTs, consistent
        # on their own. Either way SQLAlchemy's own BEGIN sends nothing.
        self._plain = self.engine.execution_options(**{_SQLITE_BEGIN: ""})
        self._read_connection: sa.Connection | None = None
        self._write_connection: sa.Connection | None = None
        self._write_lock = threading.Lock()
        self._waits_for_lock = True
        """Whether the write connection's busy timeout is on (off while writing inline)."""
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sessionbot-sqlite-write")
        self._writes: GroupCommit[_Job, Any] = GroupCommit(
            self._run_jobs, may_be_one_requests_doing=_may_be_one_jobs_doing
        )
        self.checkpointer = Checkpointer(url.database or "", self._write_lock)
        self.inline_transactions = 0
        """How many write transactions ran on the event loop's thread."""
        self._direct_transactions = 0

    @property
    def transactions(self) -> int:
        """How many write transactions have run (each may hold many writes)."""
        return self._writes.batches + self._direct_transactions

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
            conn = self._read_connection = self._plain.connect()
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
        share the transaction: see :meth:`_run_jobs`. It runs on the writer thread:
        use :meth:`write_quick` for a write that touches a few rows.
        """
        job = _Job(lambda conn: work(conn, *args, **kwargs), on_driver=False, quick=False)
        return cast(T, await self._submit(job))

    async def write_quick(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`write` for a write of a few rows, which may run on the event loop's thread."""
        job = _Job(lambda conn: work(conn, *args, **kwargs), on_driver=False, quick=True)
        return cast(T, await self._submit(job))

    async def write_on_driver(
        self,
        work: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """:meth:`write_quick` for work done on the ``sqlite3`` connection itself.

        A transaction of such writes alone (appends, usually) goes without SQLAlchemy:
        the runner's own ``BEGIN IMMEDIATE`` and ``COMMIT`` on the driver.
        """
        job = _Job(lambda db: work(db, *args, **kwargs), on_driver=True, quick=True)
        return cast(T, await self._submit(job))

    async def _submit(self, job: _Job) -> Any:
        if job.quick and self._writes.idle:
            # Nothing is queued that this write could overtake: write it now.
            outcome = self._inline([job])
            if outcome is not _LOCKED:
                self._direct_transactions += 1
                return cast(list[Any], outcome)[0]
        return await self._writes.submit(job)

    async def _run_jobs(self, jobs: Sequence[_Job]) -> list[Any]:
        """Run ``jobs`` one after the other in one transaction.

        Each job sees the ones before it, as if they had committed one by one. If
        one raises, the whole transaction rolls back and
        :class:`~core.storage.sql.group_commit.GroupCommit` runs each job again alone, so only
        that one fails. One COMMIT for the lot.
        """
        if len(jobs) <= INLINE_BATCH and all(job.quick for job in jobs):
            outcome = self._inline(jobs)
            if outcome is not _LOCKED:
                return cast(list[Any], outcome)

        def run() -> list[Any]:
            with self._write_lock:
                return cast(list[Any], self._transaction(jobs, wait=True))

        return await _on(self._write_thread, run)

    def _inline(self, jobs: Sequence[_Job]) -> list[Any] | object:
        """Run quick ``jobs`` right here, if the write connection and SQLite's lock are free.

        A lone conversation's message then costs no hand-over to the writer thread
        and back (two wake-ups, and turns at the GIL), which took most of its time;
        under load the same holds for a batch of appends (measured in
        bench/README.md). Returns :data:`_LOCKED` when the writer thread is busy or
        another process holds SQLite's write lock: the writer thread then waits for
        it, as long as the busy timeout allows, rather than the event loop.
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

    def _transaction(self, jobs: Sequence[_Job], *, wait: bool) -> list[Any] | object:
        """Run ``jobs`` in one transaction on the write connection (its lock held).

        With ``wait=False`` SQLite's write lock is only tried: :data:`_LOCKED` if
        another process holds it, nothing done.
        """
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
            _on_driver(db, f"PRAGMA busy_timeout={timeout}")
            self._waits_for_lock = wait
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not wait and _is_busy(exc):
                return _LOCKED
            raise StorageError(f"cannot start a write: {exc}") from exc
        except sqlite3.Error as exc:
            raise StorageError(f"cannot start a write: {exc}") from exc
        transaction: sa.RootTransaction | None = None
        try:
            results: list[Any] = []
            for job in jobs:
                if job.on_driver:
                    results.append(job.work(db))
                    continue
                if transaction is None:
                    # SQLAlchemy's view of the transaction BEGIN IMMEDIATE opened.
                    transaction = conn.begin()
                results.append(job.work(conn))
            if transaction is not None:
                transaction.commit()
            else:
                _on_driver(db, "COMMIT")
        except BaseException:
            self._roll_back(conn, db, transaction)
            raise
        self.checkpointer.wanted()
        return results

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
        await asyncio.to_thread(self._shut_down)

    def _shut_down(self) -> None:
        self._write_thread.shutdown(wait=True)
        self.checkpointer.stop()
        with self._write_lock:
            if self._write_connection is not None:
                self._write_connection.close()
                self._write_connection = None
        self.engine.dispose()


CHECKPOINT_INTERVAL = 0.1
"""The least time between two checkpoints, in seconds (see :class:`Checkpointer`)."""


RESTART_AFTER_FRAMES = 4000
"""Pages of log (4 KiB each) after which a checkpoint also starts the log over."""

CHECKPOINT_BUSY_TIMEOUT_MS = 100
"""How long a checkpoint waits for a writer or for readers before trying again later."""


class Checkpointer:
    """Folds SQLite's write-ahead log into the database file, on a thread of its own.

    SQLite's own automatic checkpoint runs inside the COMMIT that crosses 1,000 pages
    of log, on whatever thread committed: copying the pages and syncing the file took
    about 40 % of the time of each append, on the event loop's thread. Here a
    ``PASSIVE`` checkpoint (it never blocks a writer or a reader) runs after
    commits, at most once per ``interval`` seconds, on another core, since SQLite
    lets go of the GIL while it copies and syncs. The log grows by at most what is
    committed in one interval (a few MB under full load) before it is reused.

    Args:
        path: the database file.
        writers: held while the log is started over (this process's write lock).
        interval: the least time between two checkpoints (:data:`CHECKPOINT_INTERVAL`).
    """

    def __init__(
        self,
        path: str,
        writers: AbstractContextManager[object] | None = None,
        interval: float | None = None,
    ) -> None:
        self._path = path
        self._writers = writers or nullcontext()
        self._interval = CHECKPOINT_INTERVAL if interval is None else interval
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        """How many checkpoints have run."""

    def wanted(self) -> None:
        """Note that a transaction committed: a checkpoint is due within ``interval``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="sessionbot-sqlite-checkpoint", daemon=True
            )
            self._thread.start()
        if not self._wanted.is_set():
            self._wanted.set()

    def stop(self) -> None:
        """Run the checkpoint still due, then end the thread."""
        self._stopping.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            # Commits go on; the log grows until the next store opens the file.
            logger.error("cannot open %s to checkpoint it: %s", self._path, exc)
            return
        try:
            # Waits for a writer to finish, and for readers to leave the log before a
            # restart, hold writers off meanwhile: never long.
            db.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_TIMEOUT_MS}")
            while True:
                self._wanted.wait()
                self._wanted.clear()
                self._checkpoint(db)
                if self._stopping.is_set():
                    return
                self._stopping.wait(self._interval)
        finally:
            db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            [(_, frames, _)] = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
            if frames >= RESTART_AFTER_FRAMES:
                # Under steady writes the log is never wholly copied when a write
                # starts, so SQLite never starts it over: it would grow without end.
                # Holding writers off for the last frames lets the next one restart
                # it. This process's writers are held off by their own lock: SQLite's
                # busy handler, which polls, would lose every race to them.
                with self._writers:
                    db.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        except sqlite3.Error as exc:
            # The next commit asks again; the log only grows meanwhile.
            logger.warning("checkpoint of %s failed: %s", self._path, exc)


INLINE_BATCH = 64
"""Quick writes in a batch at most for it to run on the event loop's thread.

Appends of any number of conversations make one write (see
:mod:`core.storage.sql.append`); new sessions and their keys are a write each.
"""

_LOCKED = object()
"""What a transaction that did not wait returns when another process holds the lock."""


def _is_busy(error: sqlite3.OperationalError) -> bool:
    """Whether another connection holds the lock (``database is locked``)."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary code of an extended one
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _on_driver(db: sqlite3.Connection, sql: str) -> None:
    try:
        db.execute(sql)
    except sqlite3.IntegrityError as exc:  # a deferred constraint, checked at COMMIT
        raise ConflictError(f"{sql.split()[0].lower()} failed: {exc}") from exc
    except sqlite3.Error as exc:
        raise StorageError(f"{sql.split()[0].lower()} failed: {exc}") from exc


@dataclass(frozen=True, slots=True)
class _Job:
    """A write, its arguments bound: what the write queue holds."""

    work: Callable[[Any], Any]
    """Takes the SQLAlchemy connection, or the ``sqlite3`` one if ``on_driver``."""
    on_driver: bool
    quick: bool
    """A few rows: may run on the event loop's thread."""


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

    async def write_quick(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """:meth:`write`: every write is asynchronous here."""
        return await self.write(work, *args, **kwargs)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.async_engine.dispose()


def _may_be_one_jobs_doing(error: Exception) -> bool:
    # A constraint violation, or an error raised by a job's own logic, is one job's;
    # a driver error such as "database is locked" or "disk I/O error" is everyone's,
    # and retrying each job alone would only repeat it (after the busy timeout).
    # Work on the driver's own connection (core.storage.sql.append) raises these as the
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
