"""A :class:`~core.storage.protocols.Store` on SQLite or PostgreSQL (asyncpg).

One module serves both backends through SQLAlchemy Core; what differs between them
(the insert-on-conflict dialect, SQLite's pragmas and transaction start, how SQL is
run) stays here and in :mod:`core.storage.sql.runner`.

Every store call is one unit of work: a function of a connection that sends all the
call's statements, run by :mod:`core.storage.sql.runner` (on SQLite: reads on the event
loop's thread, writes on a writer thread, those queued meanwhile sharing one
transaction). Every method that writes runs in one transaction of its own or shared. On
SQLite a writing transaction starts with ``BEGIN IMMEDIATE``: a deferred one that
first reads and then writes can fail at once with ``SQLITE_BUSY`` when another
connection wrote in between, whereas an immediate one waits (up to the busy timeout)
for the write lock before reading anything. On PostgreSQL, rows that a transaction
reads before deciding what to write are locked with ``SELECT … FOR UPDATE``.

Appends are group-committed on every backend (:mod:`core.storage.sql.group_commit`,
:mod:`core.storage.sql.append`): appends from concurrent conversations share one transaction
of a fixed number of statements, and each caller's ``await`` returns after that
transaction has committed.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.base import PGDialect

from core.errors import ConflictError, StorageError
from core.models import (
    ArchiveReason,
    Branch,
    ChannelSettings,
    Checkpoint,
    Message,
    NewMessage,
    Role,
    Session,
    SessionStatus,
)
from core.sessions.resets import ResetRules, RuleSelector
from core.storage.keyring import KeyringEntry
from core.storage.protocols import SessionFilter
from core.storage.sql.append import AppendRequest, append_batch, append_batch_sqlite, message_values
from core.storage.sql.group_commit import GroupCommit
from core.storage.sql.runner import (
    SQLITE_BUSY_TIMEOUT_MS,
    AsyncRunner,
    SqliteRunner,
    install_sqlite_hooks,
)
from core.storage.sql.schema import (
    SCHEMA_REVISION,
    branches,
    channel_settings,
    checkpoints,
    keyring,
    sessions,
)
from core.storage.sql.schema import messages as messages_table

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["MIGRATIONS_DIR", "SQLITE_BUSY_TIMEOUT_MS", "SqlStore", "alembic_config"]

P = ParamSpec("P")
T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""The Alembic script directory shipped with the package."""

# Spelled as SQL text rather than a bound parameter, so that the planners can match
# the partial unique index, whose predicate is this very literal.
_ACTIVE: sa.ColumnClause[str] = sa.literal_column("'active'", sa.String)

# Key of the advisory lock that keeps two PostgreSQL workers from migrating at once.
_MIGRATION_LOCK_KEY = 0x5E55_10B0


# Attempts at inserting an active session when the conflicting one disappears
# between the insert and the look-up (PostgreSQL, read committed).
_START_ATTEMPTS = 3


class SqlStore:
    """Keeps sessions in a SQL database through SQLAlchemy Core.

    Args:
        url: a SQLAlchemy URL: ``sqlite+aiosqlite:///path`` (the store's calls run
            through the standard library's ``sqlite3``, see :mod:`core.storage.sql.runner`;
            aiosqlite serves :attr:`engine`) or ``postgresql+asyncpg://user@host/db``.
            :func:`core.storage.backends.open_store` builds it from the configured
            ``[storage] url``.
        connect_args: extra keyword arguments for the driver's ``connect``, such as
            asyncpg's ``server_settings``.

    Raises:
        StorageError: the URL names another driver or an in-memory SQLite database.
    """

    def __init__(self, url: str | sa.URL, *, connect_args: Mapping[str, Any] | None = None) -> None:
        self.url = sa.make_url(url)
        dialect = self.url.get_backend_name()
        if self.url.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
            raise StorageError(f"unsupported database driver {self.url.drivername!r}")
        self._connect_args = dict(connect_args or {})
        self._sqlite_path: Path | None = None
        self._tools_engine: AsyncEngine | None = None
        self._runner: SqliteRunner | AsyncRunner
        if dialect == "sqlite":
            database = self.url.database or ""
            if database in ("", ":memory:") or database.startswith("file:"):
                raise StorageError("SQLite needs a file path; use memory:// for no file")
            self._sqlite_path = Path(database)
            sync_url = self.url.set(drivername="sqlite+pysqlite")
            self._runner = SqliteRunner(sync_url, self._connect_args)
        else:
            from sqlalchemy.ext.asyncio import create_async_engine  # asyncpg only

            self._tools_engine = create_async_engine(self.url, connect_args=self._connect_args)
            self._runner = AsyncRunner(self._tools_engine)
        self._is_sqlite = dialect == "sqlite"
        self._appends: GroupCommit[AppendRequest, list[Message]] = GroupCommit(
            self._append_batch, lone_at_once=True
        )

    def __repr__(self) -> str:
        return f"SqlStore({self._where})"

    @property
    def engine(self) -> AsyncEngine:
        """An async engine on the same database, for SQL of one's own (benchmarks, tests).

        On SQLite it is made on first use and has connections of its own (aiosqlite);
        the store's calls do not go through it: see :attr:`sql_engine`.
        """
        if self._tools_engine is None:
            from sqlalchemy.ext.asyncio import create_async_engine

            self._tools_engine = create_async_engine(self.url, connect_args=self._connect_args)
            install_sqlite_hooks(self._tools_engine.sync_engine)
        return self._tools_engine

    @property
    def sql_engine(self) -> sa.Engine:
        """The engine whose connections send every statement of the store's calls.

        Listen to its events to count or trace them (``before_cursor_execute``).
        """
        return self._runner.engine

    @property
    def group_commits(self) -> int:
        """How many append transactions have run so far (each may hold many appends)."""
        return self._appends.batches

    @property
    def write_transactions(self) -> int | None:
        """How many write transactions SQLite's writer thread has run, all writes together.

        ``None`` on PostgreSQL, where each write but appends has a transaction of its own.
        """
        return self._runner.transactions if isinstance(self._runner, SqliteRunner) else None

    @property
    def _where(self) -> str:
        return self.url.render_as_string(hide_password=True)

    async def open(self) -> None:
        """Create the SQLite file if needed and migrate the schema to the newest version.

        The revision is checked with one query first; Alembic is loaded only when a
        migration has to run.

        Raises:
            StorageError: the database cannot be opened or migrated.
        """
        if self._sqlite_path is not None:
            _prepare_sqlite_file(self._sqlite_path)
        async with _wrapping_errors(f"cannot open {self._where}"):
            if await self._runner.read(_schema_revision) != SCHEMA_REVISION:
                await self._runner.write(_upgrade_to_head, self._where)

    async def close(self) -> None:
        """Finish queued appends, then close every connection."""
        await self._appends.drain()
        await self._runner.close()
        if self._tools_engine is not None and self._is_sqlite:
            await self._tools_engine.dispose()

    async def _read(
        self, work: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``work`` on one connection, as one hand-over to the database."""
        async with _wrapping_errors(f"database error {self._where}"):
            return await self._runner.read(work, *args, **kwargs)

    async def _write(
        self, work: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``work`` in one transaction, as one hand-over to the database."""
        async with _wrapping_errors(f"database error {self._where}"):
            return await self._runner.write(work, *args, **kwargs)

    async def _write_quick(
        self, work: Callable[Concatenate[sa.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """:meth:`_write` for a write of a few rows (on SQLite it may run right here)."""
        async with _wrapping_errors(f"database error {self._where}"):
            return await self._runner.write_quick(work, *args, **kwargs)

    # -- sessions -------------------------------------------------------------

    async def start_session(
        self,
        session: Session,
        root: Branch,
        *,
        archive_id: str | None = None,
        archive_reason: ArchiveReason | None = None,
    ) -> Session:
        """See :meth:`core.storage.protocols.Store.start_session`."""
        insert = _INSERT_IF_NO_ACTIVE["sqlite" if self._is_sqlite else "postgresql"]
        return await self._write_quick(
            _start_session, session, root, archive_id, archive_reason, insert
        )

    async def get_session(self, session_id: str) -> Session | None:
        """See :meth:`core.storage.protocols.Store.get_session`."""
        row = await self._read(_first, _SESSION_BY_ID, {"id": session_id})
        return None if row is None else _session(row)

    async def get_active_session(self, scope_key: str) -> Session | None:
        """See :meth:`core.storage.protocols.Store.get_active_session`."""
        row = await self._read(_first, _ACTIVE_SESSION, {"scope_key": scope_key})
        return None if row is None else _session(row)

    async def list_sessions(
        self, where: SessionFilter, *, limit: int, offset: int = 0
    ) -> list[Session]:
        """See :meth:`core.storage.protocols.Store.list_sessions`."""
        given = {
            name: value
            for name, value in (
                ("scope_key", where.scope_key),
                ("platform", where.platform),
                ("channel_id", where.channel_id),
                ("status", where.status),
            )
            if value is not None
        }
        query = _session_list(tuple(given))
        params = {**given, "limit": limit, "offset": offset}
        return [_session(row) for row in await self._read(_all, query, params)]

    async def archive_session(self, session_id: str, reason: ArchiveReason, at: datetime) -> bool:
        """See :meth:`core.storage.protocols.Store.archive_session`."""
        return await self._write_quick(_rowcount, _archive(session_id, reason, at)) > 0

    async def activate_session(
        self, session_id: str, at: datetime, *, displaced_reason: ArchiveReason
    ) -> Session | None:
        """See :meth:`core.storage.protocols.Store.activate_session`."""
        return await self._write_quick(_activate_session, session_id, at, displaced_reason)

    async def update_session(
        self,
        session_id: str,
        at: datetime,
        *,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session | None:
        """See :meth:`core.storage.protocols.Store.update_session`."""
        changes: dict[str, Any] = {"updated_at": at}
        if title is not None:
            changes["title"] = title
        if tags is not None:
            changes["tags"] = list(tags)
        if metadata is not None:
            changes["metadata"] = dict(metadata)
        update = (
            sessions.update()
            .where(sessions.c.id == session_id)
            .values(changes)
            .returning(*sessions.c)
        )
        row = await self._write_quick(_first, update)
        return None if row is None else _session(row)

    async def delete_session(self, session_id: str) -> bool:
        """See :meth:`core.storage.protocols.Store.delete_session`."""
        return await self._write(_delete_session, session_id)

    async def archived_before(
        self, cutoff: datetime, *, keep_checkpointed: bool, limit: int
    ) -> list[str]:
        """See :meth:`core.storage.protocols.Store.archived_before`."""
        query = sa.select(sessions.c.id).where(
            sessions.c.status == SessionStatus.ARCHIVED.value,
            sessions.c.archived_at < cutoff,
        )
        if keep_checkpointed:
            has_user_checkpoint = sa.exists().where(
                checkpoints.c.session_id == sessions.c.id, checkpoints.c.auto == sa.false()
            )
            query = query.where(~has_user_checkpoint)
        query = query.order_by(sessions.c.archived_at, sessions.c.id).limit(limit)
        return [str(value) for value in await self._read(_scalars, query)]

    async def archive_idle(self, rules: ResetRules, now: datetime) -> list[Session]:
        """See :meth:`core.storage.protocols.Store.archive_idle`."""
        stored = sa.select(channel_settings.c.idle_reset_minutes).distinct()
        limits = {rules.idle_reset_minutes, *await self._read(_scalars, stored)}
        limits.update(o.idle_reset_minutes for o in rules.overrides)
        in_force = _in_force(
            channel_settings.c.idle_reset_minutes,
            [(o.selector, o.idle_reset_minutes) for o in rules.overrides],
            rules.idle_reset_minutes,
        )
        archived: list[Session] = []
        for minutes in sorted(m for m in limits if m):
            cutoff = now - timedelta(minutes=minutes)
            idle = [
                sessions.c.status == _ACTIVE,
                sessions.c.last_activity_at <= cutoff,
                in_force == minutes,
            ]
            archived += await self._archive_all(idle, ArchiveReason.IDLE, now)
        return sorted(archived, key=lambda s: (s.created_at, s.id))

    async def _archive_all(
        self, where: list[sa.ColumnElement[bool]], reason: ArchiveReason, now: datetime
    ) -> list[Session]:
        """Archive every active session ``where`` holds, :data:`SWEEP_CHUNK` per transaction.

        A sweep is background work: in one transaction, 100,000 sessions (a daily reset
        at 04:00) held SQLite's write lock for seconds, and every reply waited behind
        it. In chunks, with a pause after each full one, replies get through between
        them: measured with 1,000 conversations sending 1,000 messages a second, their
        median latency during such a sweep went from 3 s to about 50 ms (see
        bench/README.md), the sweep from 5 s to 13 s.
        """
        archived: list[Session] = []
        while True:
            found, chunk = await self._write(_archive_some, where, reason, now, SWEEP_CHUNK)
            archived += chunk
            if found < SWEEP_CHUNK:
                return archived
            await asyncio.sleep(SWEEP_PAUSE_SECONDS)

    async def archive_daily(
        self, rules: ResetRules, now: datetime, schedule: tuple[str, str], boundary: datetime
    ) -> list[Session]:
        """See :meth:`core.storage.protocols.Store.archive_daily`."""
        daily = _in_force(
            channel_settings.c.daily_reset_time,
            [(o.selector, o.daily_reset_time) for o in rules.overrides],
            rules.daily_reset_time,
        )
        zone = _in_force(
            channel_settings.c.timezone,
            [(o.selector, o.timezone) for o in rules.overrides],
            rules.timezone,
        )
        due = [
            sessions.c.status == _ACTIVE,
            sa.func.coalesce(sessions.c.resumed_at, sessions.c.created_at) < boundary,
            sessions.c.last_activity_at <= now - timedelta(minutes=rules.grace_minutes),
            daily == schedule[0],
            zone == schedule[1],
        ]
        archived = await self._archive_all(due, ArchiveReason.DAILY, now)
        return sorted(archived, key=lambda s: (s.created_at, s.id))

    async def stored_schedules(self) -> set[tuple[str | None, str | None]]:
        """See :meth:`core.storage.protocols.Store.stored_schedules`."""
        query = sa.select(channel_settings.c.daily_reset_time, channel_settings.c.timezone)
        rows = await self._read(_all, query.distinct())
        return {(row["daily_reset_time"], row["timezone"]) for row in rows}

    # -- branches and messages ------------------------------------------------

    async def get_branch(self, branch_id: str) -> Branch | None:
        """See :meth:`core.storage.protocols.Store.get_branch`."""
        row = await self._read(_first, _BRANCH_BY_ID, {"id": branch_id})
        return None if row is None else _branch(row)

    async def branches_of(self, session_id: str) -> list[Branch]:
        """See :meth:`core.storage.protocols.Store.branches_of`."""
        query = (
            sa.select(branches)
            .where(branches.c.session_id == session_id)
            .order_by(branches.c.created_at, branches.c.id)
        )
        return [_branch(row) for row in await self._read(_all, query)]

    async def branches_forked_from(self, session_id: str) -> list[Branch]:
        """See :meth:`core.storage.protocols.Store.branches_forked_from`."""
        own = sa.select(branches.c.id).where(branches.c.session_id == session_id)
        query = (
            sa.select(branches)
            .where(branches.c.parent_id.in_(own), branches.c.session_id != session_id)
            .order_by(branches.c.created_at, branches.c.id)
        )
        return [_branch(row) for row in await self._read(_all, query)]

    async def add_branch(self, branch: Branch) -> None:
        """See :meth:`core.storage.protocols.Store.add_branch`."""
        await self._write_quick(_insert, branches, _branch_values(branch))

    async def switch_head(self, session_id: str, branch: Branch, at: datetime) -> Session | None:
        """See :meth:`core.storage.protocols.Store.switch_head`."""
        return await self._write_quick(_switch_head, session_id, branch, at)

    async def reparent_branch(self, branch_id: str, parent_id: str | None, fork_seq: int) -> None:
        """See :meth:`core.storage.protocols.Store.reparent_branch`."""
        reparent = (
            branches.update()
            .where(branches.c.id == branch_id)
            .values(parent_id=parent_id, fork_seq=fork_seq)
        )
        await self._write_quick(_rowcount, reparent)

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        ids: Sequence[str],
        at: datetime,
        *,
        expect_head: str | None = None,
    ) -> list[Message]:
        """See :meth:`core.storage.protocols.Store.append_messages`.

        Group-committed: appends to other sessions submitted meanwhile share the
        transaction; this returns once it has committed.
        """
        if len(messages) != len(ids):
            raise ValueError(f"{len(messages)} messages but {len(ids)} ids")
        request = AppendRequest(session_id, tuple(messages), tuple(ids), at, expect_head)
        return await self._appends.submit(request)

    async def _append_batch(
        self, requests: Sequence[AppendRequest]
    ) -> list[list[Message] | Exception]:
        if isinstance(self._runner, SqliteRunner):
            # The hot path of every message: on the driver's own connection, in a
            # transaction without SQLAlchemy when no other write shares it. SQLite's
            # BEGIN IMMEDIATE already excludes every other writer: no row locks.
            async with _wrapping_errors(f"database error {self._where}"):
                return await self._runner.write_on_driver(append_batch_sqlite, requests)
        return await self._write(append_batch, requests, lock_rows=True)

    async def copy_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.storage.protocols.Store.copy_messages`."""
        if not messages:
            return
        rows = [message_values(m) for m in messages]
        await self._write(_execute_many, messages_table.insert(), rows)

    async def read_messages(
        self,
        branch_id: str,
        *,
        min_seq: int = 1,
        max_seq: int | None = None,
        limit: int,
        newest_first: bool,
    ) -> list[Message]:
        """See :meth:`core.storage.protocols.Store.read_messages`."""
        query = _select_messages(newest_first=newest_first)
        bounds = {
            "branch_id": branch_id,
            "min_seq": min_seq,
            # No upper bound is the largest seq there can be: one statement serves both.
            "max_seq": _MAX_SEQ if max_seq is None else max_seq,
            "limit": limit,
        }
        return await self._read(_messages, query, bounds)

    async def get_message(self, message_id: str) -> Message | None:
        """See :meth:`core.storage.protocols.Store.get_message`."""
        row = await self._read(_first, _MESSAGE_BY_ID, {"id": message_id})
        return None if row is None else _message(row)

    async def rewrite_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.storage.protocols.Store.rewrite_messages`."""
        if not messages:
            return
        rewrite = (
            messages_table.update()
            .where(messages_table.c.id == sa.bindparam("message_id"))
            .values(content=sa.bindparam("new_content"), metadata=sa.bindparam("new_metadata"))
        )
        rows = [
            {"message_id": m.id, "new_content": m.content, "new_metadata": dict(m.metadata)}
            for m in messages
        ]
        await self._write(_execute_many, rewrite, rows)

    # -- checkpoints ----------------------------------------------------------

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.storage.protocols.Store.add_checkpoint`."""
        await self._write_quick(
            _rowcount, checkpoints.insert().values(_checkpoint_values(checkpoint))
        )

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        """See :meth:`core.storage.protocols.Store.get_checkpoint`."""
        query = sa.select(checkpoints).where(checkpoints.c.id == checkpoint_id)
        row = await self._read(_first, query)
        return None if row is None else _checkpoint(row)

    async def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """See :meth:`core.storage.protocols.Store.list_checkpoints`."""
        query = (
            sa.select(checkpoints)
            .where(checkpoints.c.session_id == session_id)
            .order_by(checkpoints.c.created_at, checkpoints.c.id)
        )
        return [_checkpoint(row) for row in await self._read(_all, query)]

    async def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """See :meth:`core.storage.protocols.Store.delete_checkpoint`."""
        delete = checkpoints.delete().where(checkpoints.c.id == checkpoint_id)
        return await self._write_quick(_rowcount, delete) > 0

    async def rewrite_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.storage.protocols.Store.rewrite_checkpoint`."""
        rewrite = (
            checkpoints.update()
            .where(checkpoints.c.id == checkpoint.id)
            .values(name=checkpoint.name, description=checkpoint.description)
        )
        await self._write_quick(_rowcount, rewrite)

    async def count_checkpoints(self, session_id: str) -> int:
        """See :meth:`core.storage.protocols.Store.count_checkpoints`."""
        query = (
            sa.select(sa.func.count())
            .select_from(checkpoints)
            .where(checkpoints.c.session_id == session_id)
        )
        return int(await self._read(_scalar, query))

    # -- keyring --------------------------------------------------------------

    async def keyring_get(self, name: str) -> KeyringEntry | None:
        """See :meth:`core.storage.protocols.Store.keyring_get`."""
        return await self._read(_keyring_entry, name)

    async def keyring_add(self, entry: KeyringEntry) -> KeyringEntry:
        """See :meth:`core.storage.protocols.Store.keyring_add`."""
        add = _ADD_KEY["sqlite" if self._is_sqlite else "postgresql"]
        stored = await self._write_quick(_keyring_add, add, entry)
        if stored is None:  # deleted between the insert and the read; cannot happen
            raise ConflictError(f"keyring entry {entry.name!r} vanished")  # pragma: no cover
        return stored

    async def keyring_delete(self, name: str) -> None:
        """See :meth:`core.storage.protocols.Store.keyring_delete`."""
        await self._write_quick(_rowcount, keyring.delete().where(keyring.c.name == name))

    async def keyring_page(self, prefix: str, after: str, limit: int) -> list[KeyringEntry]:
        """See :meth:`core.storage.protocols.Store.keyring_page`."""
        query = (
            sa.select(keyring)
            .where(keyring.c.name.startswith(prefix, autoescape=True), keyring.c.name > after)
            .order_by(keyring.c.name)
            .limit(limit)
        )
        return [_keyring(row) for row in await self._read(_all, query)]

    async def keyring_stage(self, name: str, next_value: bytes, next_version: int) -> None:
        """See :meth:`core.storage.protocols.Store.keyring_stage`."""
        stage = (
            keyring.update()
            .where(keyring.c.name == name)
            .values(next_value=next_value, next_version=next_version)
        )
        await self._write_quick(_rowcount, stage)

    async def keyring_commit(self, check: KeyringEntry, *, require_prefix: str) -> int:
        """See :meth:`core.storage.keyring.Keyring.keyring_commit`."""
        return await self._write_quick(_keyring_commit, check, require_prefix)

    async def keyring_unstaged(self, prefix: str, version: int) -> int:
        """See :meth:`core.storage.protocols.Store.keyring_unstaged`."""
        return await self._read(_count_unstaged, prefix, version)

    # -- channel settings -----------------------------------------------------

    async def get_channel_settings(self, channel_key: str) -> ChannelSettings | None:
        """See :meth:`core.storage.protocols.Store.get_channel_settings`."""
        row = await self._read(_first, _CHANNEL_SETTINGS, {"channel_key": channel_key})
        if row is None:
            return None
        return ChannelSettings(
            channel_key=row["channel_key"],
            updated_at=row["updated_at"],
            scope=row["scope"],
            daily_reset_time=row["daily_reset_time"],
            idle_reset_minutes=row["idle_reset_minutes"],
            timezone=row["timezone"],
        )

    async def put_channel_settings(self, settings: ChannelSettings) -> None:
        """See :meth:`core.storage.protocols.Store.put_channel_settings`."""
        values = {
            "channel_key": settings.channel_key,
            "scope": settings.scope,
            "daily_reset_time": settings.daily_reset_time,
            "idle_reset_minutes": settings.idle_reset_minutes,
            "timezone": settings.timezone,
            "updated_at": settings.updated_at,
        }
        insert = sqlite.insert if self._is_sqlite else postgresql.insert
        upsert = (
            insert(channel_settings)
            .values(values)
            .on_conflict_do_update(
                index_elements=[channel_settings.c.channel_key],
                set_={key: value for key, value in values.items() if key != "channel_key"},
            )
        )
        await self._write_quick(_rowcount, upsert)


# -- units of work: functions of one connection ---------------------------------


def _first(
    conn: sa.Connection, query: sa.Executable, params: Mapping[str, Any] | None = None
) -> sa.RowMapping | None:
    return conn.execute(query, params).mappings().first()


def _all(
    conn: sa.Connection, query: sa.Executable, params: Mapping[str, Any] | None = None
) -> list[sa.RowMapping]:
    return list(conn.execute(query, params).mappings().all())


def _messages(
    conn: sa.Connection, query: sa.Executable, params: Mapping[str, Any]
) -> list[Message]:
    # Positional rows: a history read makes one Message per row, and mapping look-ups
    # by name cost more than the rest of the row's handling.
    return [
        Message(
            id=row[0],
            session_id=row[1],
            branch_id=row[2],
            seq=row[3],
            role=_ROLES[row[4]],
            author=row[5],
            content=row[6],
            metadata=row[7],
            tokens_in=row[8],
            tokens_out=row[9],
            created_at=row[10],
        )
        for row in conn.execute(query, params)
    ]


_ROLES = {role.value: role for role in Role}


def _scalars(conn: sa.Connection, query: sa.Executable) -> list[Any]:
    return list(conn.execute(query).scalars().all())


def _scalar(conn: sa.Connection, query: sa.Executable) -> Any:
    return conn.execute(query).scalar_one()


def _rowcount(conn: sa.Connection, statement: sa.Executable) -> int:
    return conn.execute(statement).rowcount


def _execute_many(
    conn: sa.Connection, statement: sa.Executable, rows: list[dict[str, Any]]
) -> None:
    conn.execute(statement, rows)


def _active_session(conn: sa.Connection, scope_key: str) -> Session | None:
    found = conn.execute(
        sa.select(sessions).where(sessions.c.scope_key == scope_key, sessions.c.status == _ACTIVE)
    )
    row = found.mappings().first()
    return None if row is None else _session(row)


def _start_session(
    conn: sa.Connection,
    session: Session,
    root: Branch,
    archive_id: str | None,
    archive_reason: ArchiveReason | None,
    insert_if_no_active: sa.TextualSelect,
) -> Session:
    if archive_id is not None:
        conn.execute(_archive(archive_id, archive_reason or ArchiveReason.NEW, session.created_at))
    values = _session_values(session)
    if not session.is_active:
        conn.execute(sessions.insert(), values)
        conn.execute(branches.insert(), _branch_values(root))
        return session
    for _ in range(_START_ATTEMPTS):
        if conn.execute(insert_if_no_active, values).first() is not None:
            conn.execute(branches.insert(), _branch_values(root))
            return session
        winner = _active_session(conn, session.scope_key)
        if winner is not None:
            return winner
    raise ConflictError(f"scope key {session.scope_key!r} keeps changing; try again")


def _activate_session(
    conn: sa.Connection, session_id: str, at: datetime, displaced_reason: ArchiveReason
) -> Session | None:
    found = conn.execute(sa.select(sessions).where(sessions.c.id == session_id).with_for_update())
    target = found.mappings().first()
    if target is None:
        return None
    if target["status"] == SessionStatus.ACTIVE:
        return _session(target)
    conn.execute(
        _archived_values(
            sessions.update().where(
                sessions.c.scope_key == target["scope_key"],
                sessions.c.status == _ACTIVE,
                sessions.c.id != session_id,
            ),
            displaced_reason,
            at,
        )
    )
    resumed = conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id)
        .values(
            status=SessionStatus.ACTIVE.value,
            archived_at=None,
            archive_reason=None,
            updated_at=at,
            last_activity_at=at,
            resumed_at=at,
        )
        .returning(*sessions.c)
    )
    return _session(resumed.mappings().one())


def _delete_session(conn: sa.Connection, session_id: str) -> bool:
    own_branches = sa.select(branches.c.id).where(branches.c.session_id == session_id)
    conn.execute(checkpoints.delete().where(checkpoints.c.session_id == session_id))
    conn.execute(messages_table.delete().where(messages_table.c.branch_id.in_(own_branches)))
    conn.execute(branches.delete().where(branches.c.session_id == session_id))
    deleted = conn.execute(sessions.delete().where(sessions.c.id == session_id))
    return deleted.rowcount > 0


def _archive_some(
    conn: sa.Connection,
    where: list[sa.ColumnElement[bool]],
    reason: ArchiveReason,
    now: datetime,
    limit: int,
) -> tuple[int, list[Session]]:
    """Archive up to ``limit`` active sessions ``where`` holds.

    Returns how many were found, and those archived: on PostgreSQL another worker may
    archive or touch some in between, and the conditions are checked again.
    """
    ids = list(conn.execute(sa.select(sessions.c.id).where(*where).limit(limit)).scalars())
    if not ids:
        return 0, []
    due = sessions.update().where(sessions.c.id.in_(ids), *where)
    result = conn.execute(_archived_values(due, reason, now).returning(*sessions.c))
    return len(ids), [_session(row) for row in result.mappings()]


def _switch_head(
    conn: sa.Connection, session_id: str, branch: Branch, at: datetime
) -> Session | None:
    updated = conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id)
        .values(head_branch_id=branch.id, message_count=branch.last_seq, updated_at=at)
        .returning(*sessions.c)
    )
    row = updated.mappings().first()
    if row is None:
        return None
    conn.execute(branches.insert(), _branch_values(branch))
    return _session(row)


def _keyring_entry(conn: sa.Connection, name: str) -> KeyringEntry | None:
    row = conn.execute(_KEY_BY_NAME, {"name": name}).mappings().first()
    return None if row is None else _keyring(row)


def _keyring_add(
    conn: sa.Connection, add: sa.Executable, entry: KeyringEntry
) -> KeyringEntry | None:
    added = conn.execute(add, _keyring_values(entry)).mappings().first()
    # Nothing returned: the name was taken (another worker's key); that one counts.
    return _keyring(added) if added is not None else _keyring_entry(conn, entry.name)


def _insert(conn: sa.Connection, table: sa.Table, values: Mapping[str, Any]) -> None:
    conn.execute(table.insert(), values)


def _keyring_commit(conn: sa.Connection, check: KeyringEntry, require_prefix: str) -> int:
    if conn.dialect.name == "postgresql":
        # A data key added between the count and the swap would stay wrapped
        # under the retired key; this lock holds new keys back until commit.
        conn.execute(sa.text("LOCK TABLE keyring IN EXCLUSIVE MODE"))
    if _count_unstaged(conn, require_prefix, check.version):
        raise ConflictError("a data key was added after staging")
    swapped = conn.execute(
        keyring.update()
        .where(keyring.c.next_value.is_not(None), keyring.c.next_version.is_not(None))
        .values(
            value=keyring.c.next_value,
            version=keyring.c.next_version,
            next_value=None,
            next_version=None,
        )
    )
    conn.execute(keyring.delete().where(keyring.c.name == check.name))
    conn.execute(keyring.insert().values(_keyring_values(check)))
    return swapped.rowcount


def _count_unstaged(conn: sa.Connection, prefix: str, version: int) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(keyring)
        .where(
            keyring.c.name.startswith(prefix, autoescape=True),
            keyring.c.next_version.is_distinct_from(version),
        )
    )
    return int(conn.execute(query).scalar_one())


# -- schema ---------------------------------------------------------------------


def _schema_revision(conn: sa.Connection) -> str | None:
    """Return the Alembic revision the database is at, or ``None`` if it has none."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def _upgrade_to_head(connection: sa.Connection, where: str) -> None:
    """Apply every Alembic migration not yet applied, on ``connection``'s transaction."""
    from alembic import command  # heavy: only when a migration has to run
    from alembic.util import CommandError as AlembicError

    if connection.dialect.name == "postgresql":
        # Two workers starting at once would both see an empty database and both
        # create the tables; the lock ends with the transaction.
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
    try:
        command.upgrade(alembic_config(connection), "head")
    except AlembicError as exc:
        # Typically a database migrated by a newer sessionbot than this one.
        raise StorageError(f"cannot migrate {where}: {_first_line(exc)}") from exc


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Return an Alembic configuration for the shipped migrations; no ``alembic.ini``.

    Args:
        connection: the connection ``env.py`` migrates on; without one, ``env.py``
            connects to the ``sqlalchemy.url`` main option, which the caller sets.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


# -- engine set-up ----------------------------------------------------------------


def _prepare_sqlite_file(path: Path) -> None:
    """Create the database file readable by its owner only, then try opening it.

    SQLite would create a missing file with the process umask (often world-readable),
    hence the file is made here first. The trial open reports an unusable path in one
    line before any pool or thread is involved.
    """
    if not path.parent.is_dir():
        raise StorageError(f"cannot create SQLite database {path}: no directory {path.parent}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StorageError(f"cannot create SQLite database {path}: {exc.strerror}") from exc
    else:
        os.close(fd)
    try:
        trial = sqlite3.connect(path)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open SQLite database {path}: {_first_line(exc)}") from exc
    try:
        trial.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open SQLite database {path}: {_first_line(exc)}") from exc
    finally:
        trial.close()


@asynccontextmanager
async def _wrapping_errors(context: str) -> AsyncIterator[None]:
    """Turn driver and network errors into one-line storage errors."""
    try:
        yield
    except sa_exc.IntegrityError as exc:
        raise ConflictError(f"{context}: {_first_line(exc.orig)}") from exc
    except sa_exc.DBAPIError as exc:
        raise StorageError(f"{context}: {_first_line(exc.orig)}") from exc
    except OSError as exc:
        # asyncpg lets socket errors (refused, unknown host, timeout) through as is.
        raise StorageError(f"{context}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip() if exc is not None else ""
    return text.splitlines()[0] if text else type(exc).__name__


# -- statements ---------------------------------------------------------------


def _archive(session_id: str, reason: ArchiveReason, at: datetime) -> sa.Update:
    return _archived_values(
        sessions.update().where(sessions.c.id == session_id, sessions.c.status == _ACTIVE),
        reason,
        at,
    )


def _archived_values(update: sa.Update, reason: ArchiveReason, at: datetime) -> sa.Update:
    return update.values(
        status=SessionStatus.ARCHIVED.value,
        archived_at=at,
        archive_reason=reason.value,
        updated_at=at,
    )


def _in_force(
    stored: sa.Column[Any], overrides: Sequence[tuple[RuleSelector, Any]], default: Any
) -> sa.ColumnElement[Any]:
    """The SQL twin of ``ResetRules.effective_*``: channel setting, override, default.

    Args:
        stored: the ``channel_settings`` column that wins when it is not NULL.
        overrides: ``(selector, value)`` of each configured override, in order;
            ``None`` values are skipped, as the rules do.
        default: the configured default.
    """
    setting = (
        sa.select(stored)
        .where(channel_settings.c.channel_key == sessions.c.channel_key)
        .correlate(sessions)
        .scalar_subquery()
    )
    whens = [
        (_selects(selector), sa.literal(value))
        for selector, value in overrides
        if value is not None
    ]
    configured = sa.case(*whens, else_=sa.literal(default)) if whens else sa.literal(default)
    return sa.func.coalesce(setting, configured)


def _selects(selector: RuleSelector) -> sa.ColumnElement[bool]:
    """The SQL twin of :meth:`RuleSelector.matches`."""
    conditions: list[sa.ColumnElement[bool]] = []
    if selector.platform is not None:
        conditions.append(sessions.c.platform == selector.platform)
    if selector.channel_id is not None:
        conditions.append(sessions.c.channel_id == selector.channel_id)
    if selector.is_direct is not None:
        conditions.append(sessions.c.is_direct == (sa.true() if selector.is_direct else sa.false()))
    return sa.and_(*conditions) if conditions else sa.true()


def _select_messages(*, newest_first: bool) -> sa.Select[Any]:
    """One range scan of the ``(branch_id, seq)`` index, whatever the branch's length.

    Parameters ``branch_id``, ``min_seq``, ``max_seq`` and ``limit``.
    """
    return _NEWEST_MESSAGES if newest_first else _OLDEST_MESSAGES


_MESSAGE_COLUMNS = tuple(
    messages_table.c[name]
    for name in (
        "id",
        "session_id",
        "branch_id",
        "seq",
        "role",
        "author",
        "content",
        "metadata",
        "tokens_in",
        "tokens_out",
        "created_at",
    )
)
"""The order :func:`_messages` reads rows in."""


def _messages_in_range(order: sa.ColumnElement[Any]) -> sa.Select[Any]:
    return (
        sa.select(*_MESSAGE_COLUMNS)
        .where(
            messages_table.c.branch_id == sa.bindparam("branch_id"),
            messages_table.c.seq >= sa.bindparam("min_seq"),
            messages_table.c.seq <= sa.bindparam("max_seq"),
        )
        .order_by(order)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


# The statements of every message, built once: building one costs more than running
# it through SQLAlchemy's compiled cache.
_MAX_SEQ = 2**31 - 1
_NEWEST_MESSAGES = _messages_in_range(messages_table.c.seq.desc())
_OLDEST_MESSAGES = _messages_in_range(messages_table.c.seq.asc())
_SESSION_BY_ID = sa.select(sessions).where(sessions.c.id == sa.bindparam("id"))
_ACTIVE_SESSION = sa.select(sessions).where(
    sessions.c.scope_key == sa.bindparam("scope_key"), sessions.c.status == _ACTIVE
)


@functools.cache
def _session_list(filters: tuple[str, ...]) -> sa.Select[Any]:
    """The ``list_sessions`` statement filtering on the named columns, built once."""
    query = sa.select(sessions)
    for name in filters:
        query = query.where(sessions.c[name] == sa.bindparam(name))
    return (
        query.order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .offset(sa.bindparam("offset", type_=sa.Integer))
    )


_BRANCH_BY_ID = sa.select(branches).where(branches.c.id == sa.bindparam("id"))
_KEY_BY_NAME = sa.select(keyring).where(keyring.c.name == sa.bindparam("name"))


def _as_text(
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


SWEEP_CHUNK = 500
"""Sessions a reset sweep archives per transaction (about 20 ms of SQLite's write lock)."""
SWEEP_PAUSE_SECONDS = 0.01
"""How long a sweep lets other work go first after archiving a full chunk."""

_PG_DIALECT: Callable[..., sa.Dialect] = PGDialect  # its __init__ has no annotations
_DIALECTS = (
    ("sqlite", sqlite, sqlite.dialect(paramstyle="named")),
    ("postgresql", postgresql, _PG_DIALECT(paramstyle="named")),
)
_INSERT_IF_NO_ACTIVE = {
    name: _as_text(
        dml.insert(sessions).on_conflict_do_nothing(
            index_elements=[sessions.c.scope_key], index_where=sessions.c.status == _ACTIVE
        ),
        dialect,
        [sessions.c.id],
    )
    for name, dml, dialect in _DIALECTS
}
"""Insert a session unless its scope key has an active one; the values come as parameters."""
_ADD_KEY = {
    name: _as_text(dml.insert(keyring).on_conflict_do_nothing(), dialect, list(keyring.c))
    for name, dml, dialect in _DIALECTS
}
_MESSAGE_BY_ID = sa.select(messages_table).where(messages_table.c.id == sa.bindparam("id"))
_CHANNEL_SETTINGS = sa.select(channel_settings).where(
    channel_settings.c.channel_key == sa.bindparam("channel_key")
)


# -- rows and values ----------------------------------------------------------


def _session_values(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "scope_key": session.scope_key,
        "status": session.status.value,
        "owner": session.owner,
        "platform": session.platform,
        "channel_id": session.channel_id,
        "head_branch_id": session.head_branch_id,
        "message_count": session.message_count,
        "title": session.title,
        "tags": list(session.tags),
        "metadata": dict(session.metadata),
        "tokens_in": session.tokens_in,
        "tokens_out": session.tokens_out,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "last_activity_at": session.last_activity_at,
        "archived_at": session.archived_at,
        "archive_reason": session.archive_reason.value if session.archive_reason else None,
        "channel_key": session.channel_key,
        "resumed_at": session.resumed_at,
        "is_direct": session.is_direct,
    }


def _session(row: sa.RowMapping) -> Session:
    reason = row["archive_reason"]
    return Session(
        id=row["id"],
        scope_key=row["scope_key"],
        status=SessionStatus(row["status"]),
        owner=row["owner"],
        platform=row["platform"],
        channel_id=row["channel_id"],
        head_branch_id=row["head_branch_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        last_activity_at=row["last_activity_at"],
        message_count=row["message_count"],
        title=row["title"],
        tags=tuple(row["tags"]),
        metadata=row["metadata"],
        tokens_in=row["tokens_in"],
        tokens_out=row["tokens_out"],
        archived_at=row["archived_at"],
        archive_reason=ArchiveReason(reason) if reason is not None else None,
        channel_key=row["channel_key"],
        resumed_at=row["resumed_at"],
        is_direct=bool(row["is_direct"]),
    )


def _branch_values(branch: Branch) -> dict[str, Any]:
    return {
        "id": branch.id,
        "session_id": branch.session_id,
        "parent_id": branch.parent_id,
        "fork_seq": branch.fork_seq,
        "last_seq": branch.last_seq,
        "created_at": branch.created_at,
    }


def _branch(row: sa.RowMapping) -> Branch:
    return Branch(
        id=row["id"],
        session_id=row["session_id"],
        parent_id=row["parent_id"],
        fork_seq=row["fork_seq"],
        last_seq=row["last_seq"],
        created_at=row["created_at"],
    )


def _message(row: sa.RowMapping) -> Message:
    return Message(
        id=row["id"],
        session_id=row["session_id"],
        branch_id=row["branch_id"],
        seq=row["seq"],
        role=Role(row["role"]),
        author=row["author"],
        content=row["content"],
        created_at=row["created_at"],
        metadata=row["metadata"],
        tokens_in=row["tokens_in"],
        tokens_out=row["tokens_out"],
    )


def _keyring_values(entry: KeyringEntry) -> dict[str, Any]:
    return {
        "name": entry.name,
        "value": entry.value,
        "version": entry.version,
        "next_value": entry.next_value,
        "next_version": entry.next_version,
    }


def _keyring(row: sa.RowMapping) -> KeyringEntry:
    return KeyringEntry(
        name=row["name"],
        value=bytes(row["value"]),
        version=row["version"],
        next_value=None if row["next_value"] is None else bytes(row["next_value"]),
        next_version=row["next_version"],
    )


def _checkpoint_values(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "id": checkpoint.id,
        "session_id": checkpoint.session_id,
        "branch_id": checkpoint.branch_id,
        "seq": checkpoint.seq,
        "name": checkpoint.name,
        "description": checkpoint.description,
        "auto": checkpoint.auto,
        "created_by": checkpoint.created_by,
        "created_at": checkpoint.created_at,
    }


def _checkpoint(row: sa.RowMapping) -> Checkpoint:
    return Checkpoint(
        id=row["id"],
        session_id=row["session_id"],
        branch_id=row["branch_id"],
        seq=row["seq"],
        name=row["name"],
        description=row["description"],
        auto=bool(row["auto"]),
        created_by=row["created_by"],
        created_at=row["created_at"],
    )
