"""What every part of :class:`~core.storage.sql.store.SqlStore` shares: its runner, errors, units.

A store call is one unit of work: a function of one connection that sends all the
call's statements, handed to the :class:`~core.storage.sql.runner.Runner` in one go.
The small units here (one statement and its rows) serve most calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.base import PGDialect

from core.errors import ConflictError, RejectedValueError, StorageError
from core.models import ArchiveReason, SessionStatus
from core.storage.sql.runner import Runner, rejects_a_value
from core.storage.sql.schema import sessions

P = ParamSpec("P")
T = TypeVar("T")

ACTIVE: sa.ColumnClause[str] = sa.literal_column("'active'", sa.String)
"""``'active'`` as SQL text rather than a bound parameter, so that the planners can
match the partial unique index, whose predicate is this very literal."""


class SqlPart:
    """A part of the store: runs its units of work through the runner, errors wrapped.

    Args:
        runner: the runner of the store's database.
        where: the database URL without its password, for error messages.
    """

    def __init__(self, runner: Runner, where: str) -> None:
        self._runner = runner
        self._where = where
        self._dialect = runner.engine.dialect.name

    def _unstorable(self, key: str) -> bool:
        """Whether no row can have ``key``: U+0000, which PostgreSQL text cannot hold.

        A look-up by such a key (an id typed into a URL) finds nothing, as the
        protocol says, instead of failing with the database's refusal.
        """
        return "\x00" in key and self._dialect == "postgresql"

    async def _read(
        self, work: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run a read of a few rows (on SQLite: right here, on the event loop's thread)."""
        try:
            return await self._runner.read(work, *args, **kwargs)
        except DRIVER_ERRORS as exc:
            raise self._storage_error(exc) from None

    async def _read_large(
        self, work: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run a read that may return many rows, off the event loop's thread."""
        try:
            return await self._runner.read_large(work, *args, **kwargs)
        except DRIVER_ERRORS as exc:
            raise self._storage_error(exc) from None

    async def _write(
        self, work: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``work`` in one transaction, as one hand-over to the database."""
        try:
            return await self._runner.write(work, *args, **kwargs)
        except DRIVER_ERRORS as exc:
            raise self._storage_error(exc) from None

    async def _write_quick(
        self, work: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """:meth:`_write` for a write of a few rows (on SQLite it may run right here)."""
        try:
            return await self._runner.write_quick(work, *args, **kwargs)
        except DRIVER_ERRORS as exc:
            raise self._storage_error(exc) from None

    def _storage_error(self, exc: Exception) -> StorageError:
        return storage_error(f"database error {self._where}", exc)


LARGE_READ = 500
"""Rows a read may ask for and still run on the event loop's thread (on SQLite)."""


DRIVER_ERRORS = (sa_exc.DBAPIError, OSError)
"""What drivers raise; :func:`storage_error` turns them into the store's errors.

A ``try`` costs nothing until something is raised, unlike a context manager entered
on every call: that was 10 µs of each append."""


def storage_error(context: str, exc: Exception) -> StorageError:
    """The store's one-line error for a driver or network error ``exc``.

    A constraint violation is a :class:`~core.errors.ConflictError`; asyncpg lets
    socket errors (refused, unknown host, timeout) through as ``OSError``. The error
    is raised without its cause: the driver's exception may hold the statement's
    values, which are what users wrote, and no log line may show them.
    """
    if isinstance(exc, sa_exc.IntegrityError):
        return ConflictError(f"{context}: {first_line(exc.orig)}")
    if isinstance(exc, sa_exc.DBAPIError):
        if rejects_a_value(exc):
            # The driver's text may quote the value, which may be what a user wrote.
            code = getattr(exc.orig, "sqlstate", None) or type(exc.orig).__name__
            return RejectedValueError(f"{context}: the database refused a value ({code})")
        return StorageError(f"{context}: {first_line(exc.orig)}")
    return StorageError(f"{context}: {first_line(exc)}")


def first_line(exc: BaseException | None) -> str:
    """The first line of an error's text, or its type's name."""
    text = str(exc).strip() if exc is not None else ""
    return text.splitlines()[0] if text else type(exc).__name__


# -- units of work: functions of one connection ---------------------------------


def first(
    conn: sa.Connection, query: sa.Executable, params: Mapping[str, Any] | None = None
) -> sa.RowMapping | None:
    """The first row of ``query``, by column name."""
    return conn.execute(query, params).mappings().first()


def all_rows(
    conn: sa.Connection, query: sa.Executable, params: Mapping[str, Any] | None = None
) -> list[sa.RowMapping]:
    """Every row of ``query``, by column name."""
    return list(conn.execute(query, params).mappings().all())


def scalars(conn: sa.Connection, query: sa.Executable) -> list[Any]:
    """The first column of every row of ``query``."""
    return list(conn.execute(query).scalars().all())


def scalar(conn: sa.Connection, query: sa.Executable) -> Any:
    """The one value ``query`` returns."""
    return conn.execute(query).scalar_one()


def rowcount(conn: sa.Connection, statement: sa.Executable) -> int:
    """How many rows ``statement`` changed."""
    return conn.execute(statement).rowcount


def execute_many(
    conn: sa.Connection, statement: sa.Executable, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Run ``statement`` once per row of parameters."""
    conn.execute(statement, list(rows))


# -- statements shared by several parts -------------------------------------------


def archived_values(update: sa.Update, reason: ArchiveReason, at: datetime) -> sa.Update:
    """``update`` setting the columns an archived session has."""
    return update.values(
        status=SessionStatus.ARCHIVED.value,
        archived_at=at,
        archive_reason=reason.value,
        updated_at=at,
    )


def archive(session_id: str, reason: ArchiveReason, at: datetime) -> sa.Update:
    """Archive the session if it is still active."""
    return archived_values(
        sessions.update().where(sessions.c.id == session_id, sessions.c.status == ACTIVE),
        reason,
        at,
    )


def as_text(
    statement: sa.Insert, dialect: sa.Dialect, returning: Sequence[sa.Column[Any]]
) -> sa.TextualSelect:
    """``statement`` as SQL text with the same typed parameters and result columns.

    SQLAlchemy compiles a dialect's ``INSERT … ON CONFLICT`` anew on every execution
    (it has no cache key): about 0.2 ms, twice for every new session. A text clause
    with typed parameters is cached, and writes the same values in the same formats.
    """
    compiled = statement.returning(*returning).compile(dialect=dialect)
    text = sa.text(str(compiled)).bindparams(
        *(sa.bindparam(name, type_=bind.type) for name, bind in compiled.binds.items())
    )
    return text.columns(*returning)


_PG_DIALECT: Callable[..., sa.Dialect] = PGDialect  # its __init__ has no annotations
DIALECTS = (
    ("sqlite", sqlite, sqlite.dialect(paramstyle="named")),
    ("postgresql", postgresql, _PG_DIALECT(paramstyle="named")),
)
"""Each backend's name, its insert constructs and a dialect to compile for."""
