"""A :class:`~core.store.Store` on SQLite (aiosqlite) or PostgreSQL (asyncpg).

One module serves both backends through SQLAlchemy Core; what differs between them
(the insert-on-conflict dialect, SQLite's pragmas and transaction start) stays here.

Every method that writes runs in one transaction. On SQLite a writing transaction
starts with ``BEGIN IMMEDIATE``: a deferred one that first reads and then writes can
fail at once with ``SQLITE_BUSY`` when another connection wrote in between, whereas an
immediate one waits (up to the busy timeout) for the write lock before reading
anything. On PostgreSQL, rows that a transaction reads before deciding what to write
are locked with ``SELECT … FOR UPDATE``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError as AlembicError
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.dml import ReturningInsert

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
from core.reset import ResetRules, RuleSelector
from core.schema import branches, channel_settings, checkpoints, keyring, sessions
from core.schema import messages as messages_table
from core.store import KeyringEntry, SessionFilter

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""The Alembic script directory shipped with the package."""

SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a SQLite writer waits for another one before failing."""

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # In WAL mode NORMAL loses no committed data on an application crash, only
    # possibly the last transactions on a power loss, and skips an fsync per commit.
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
)

_SQLITE_BEGIN = "sessionbot_sqlite_begin"
"""Execution option: the statement a SQLite transaction starts with (default ``BEGIN``)."""

# Spelled as SQL text rather than a bound parameter, so that the planners can match
# the partial unique index, whose predicate is this very literal.
_ACTIVE: sa.ColumnClause[str] = sa.literal_column("'active'", sa.String)

# Key of the advisory lock that keeps two PostgreSQL workers from migrating at once.
_MIGRATION_LOCK_KEY = 0x5E55_10B0

# Keyring names of session data keys (core.sealed_store spells them so too);
# keyring_commit refuses while one of them is unstaged.
_DATA_KEY_PREFIX = "session:"

# Attempts at inserting an active session when the conflicting one disappears
# between the insert and the look-up (PostgreSQL, read committed).
_START_ATTEMPTS = 3


class SqlStore:
    """Keeps sessions in a SQL database through SQLAlchemy Core.

    Args:
        url: a SQLAlchemy URL with an async driver: ``sqlite+aiosqlite:///path`` or
            ``postgresql+asyncpg://user@host/db``. :func:`core.storage.open_store`
            builds it from the configured ``[storage] url``.
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
        self._sqlite_path: Path | None = None
        if dialect == "sqlite":
            database = self.url.database or ""
            if database in ("", ":memory:") or database.startswith("file:"):
                raise StorageError("SQLite needs a file path; use memory:// for no file")
            self._sqlite_path = Path(database)
        self._is_sqlite = dialect == "sqlite"
        self._engine = create_async_engine(self.url, connect_args=dict(connect_args or {}))
        if self._is_sqlite:
            _install_sqlite_hooks(self._engine)
            self._writer = self._engine.execution_options(**{_SQLITE_BEGIN: "BEGIN IMMEDIATE"})
            # Store reads are single SELECTs, consistent on their own: no BEGIN saves
            # a round trip through aiosqlite's thread.
            self._reader = self._engine.execution_options(**{_SQLITE_BEGIN: ""})
        else:
            self._writer = self._reader = self._engine

    def __repr__(self) -> str:
        return f"SqlStore({self._where})"

    @property
    def engine(self) -> AsyncEngine:
        """The SQLAlchemy engine, for tools that need SQL of their own (benchmarks, tests)."""
        return self._engine

    @property
    def _where(self) -> str:
        return self.url.render_as_string(hide_password=True)

    async def open(self) -> None:
        """Create the SQLite file if needed and migrate the schema to the newest version.

        Raises:
            StorageError: the database cannot be opened or migrated.
        """
        if self._sqlite_path is not None:
            _prepare_sqlite_file(self._sqlite_path)
        try:
            async with self._write(action="cannot open") as conn:
                await conn.run_sync(_upgrade_to_head)
        except AlembicError as exc:
            # Typically a database migrated by a newer sessionbot than this one.
            raise StorageError(f"cannot migrate {self._where}: {_first_line(exc)}") from exc

    async def close(self) -> None:
        """Close every pooled connection."""
        await self._engine.dispose()

    @asynccontextmanager
    async def _write(self, *, action: str = "database error") -> AsyncIterator[AsyncConnection]:
        async with _wrapping_errors(f"{action} {self._where}"), self._writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one SELECT; on SQLite it runs without an explicit BEGIN."""
        async with (
            _wrapping_errors(f"database error {self._where}"),
            self._reader.connect() as conn,
        ):
            yield conn

    # -- sessions -------------------------------------------------------------

    async def start_session(
        self,
        session: Session,
        root: Branch,
        *,
        archive_id: str | None = None,
        archive_reason: ArchiveReason | None = None,
    ) -> Session:
        """See :meth:`core.store.Store.start_session`."""
        async with self._write() as conn:
            if archive_id is not None:
                reason = archive_reason or ArchiveReason.NEW
                await conn.execute(_archive(archive_id, reason, session.created_at))
            if not session.is_active:
                await conn.execute(sessions.insert().values(_session_values(session)))
                await conn.execute(branches.insert().values(_branch_values(root)))
                return session
            for _ in range(_START_ATTEMPTS):
                inserted = await conn.execute(self._insert_if_no_active(session))
                if inserted.first() is not None:
                    await conn.execute(branches.insert().values(_branch_values(root)))
                    return session
                winner = await _active_session(conn, session.scope_key)
                if winner is not None:
                    return winner
            raise ConflictError(f"scope key {session.scope_key!r} keeps changing; try again")

    def _insert_if_no_active(self, session: Session) -> ReturningInsert[tuple[str]]:
        insert = sqlite.insert if self._is_sqlite else postgresql.insert
        return (
            insert(sessions)
            .values(_session_values(session))
            .on_conflict_do_nothing(
                index_elements=[sessions.c.scope_key], index_where=sessions.c.status == _ACTIVE
            )
            .returning(sessions.c.id)
        )

    async def get_session(self, session_id: str) -> Session | None:
        """See :meth:`core.store.Store.get_session`."""
        async with self._read() as conn:
            found = await conn.execute(sa.select(sessions).where(sessions.c.id == session_id))
            row = found.mappings().first()
        return None if row is None else _session(row)

    async def get_active_session(self, scope_key: str) -> Session | None:
        """See :meth:`core.store.Store.get_active_session`."""
        async with self._read() as conn:
            return await _active_session(conn, scope_key)

    async def list_sessions(
        self, where: SessionFilter, *, limit: int, offset: int = 0
    ) -> list[Session]:
        """See :meth:`core.store.Store.list_sessions`."""
        query = sa.select(sessions)
        for column, value in (
            (sessions.c.scope_key, where.scope_key),
            (sessions.c.platform, where.platform),
            (sessions.c.channel_id, where.channel_id),
            (sessions.c.status, where.status),
        ):
            if value is not None:
                query = query.where(column == value)
        query = (
            query.order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_session(row) for row in rows]

    async def archive_session(self, session_id: str, reason: ArchiveReason, at: datetime) -> bool:
        """See :meth:`core.store.Store.archive_session`."""
        async with self._write() as conn:
            result = await conn.execute(_archive(session_id, reason, at))
        return result.rowcount > 0

    async def activate_session(
        self, session_id: str, at: datetime, *, displaced_reason: ArchiveReason
    ) -> Session | None:
        """See :meth:`core.store.Store.activate_session`."""
        async with self._write() as conn:
            found = await conn.execute(
                sa.select(sessions).where(sessions.c.id == session_id).with_for_update()
            )
            target = found.mappings().first()
            if target is None:
                return None
            if target["status"] == SessionStatus.ACTIVE:
                return _session(target)
            await conn.execute(
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
            resumed = await conn.execute(
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

    async def update_session(
        self,
        session_id: str,
        at: datetime,
        *,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Session | None:
        """See :meth:`core.store.Store.update_session`."""
        changes: dict[str, Any] = {"updated_at": at}
        if title is not None:
            changes["title"] = title
        if tags is not None:
            changes["tags"] = list(tags)
        if metadata is not None:
            changes["metadata"] = dict(metadata)
        async with self._write() as conn:
            updated = await conn.execute(
                sessions.update()
                .where(sessions.c.id == session_id)
                .values(changes)
                .returning(*sessions.c)
            )
            row = updated.mappings().first()
        return None if row is None else _session(row)

    async def delete_session(self, session_id: str) -> bool:
        """See :meth:`core.store.Store.delete_session`."""
        own_branches = sa.select(branches.c.id).where(branches.c.session_id == session_id)
        async with self._write() as conn:
            await conn.execute(checkpoints.delete().where(checkpoints.c.session_id == session_id))
            await conn.execute(
                messages_table.delete().where(messages_table.c.branch_id.in_(own_branches))
            )
            await conn.execute(branches.delete().where(branches.c.session_id == session_id))
            deleted = await conn.execute(sessions.delete().where(sessions.c.id == session_id))
        return deleted.rowcount > 0

    async def archived_before(
        self, cutoff: datetime, *, keep_checkpointed: bool, limit: int
    ) -> list[str]:
        """See :meth:`core.store.Store.archived_before`."""
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
        async with self._read() as conn:
            return list((await conn.execute(query)).scalars().all())

    async def archive_idle(self, rules: ResetRules, now: datetime) -> list[Session]:
        """See :meth:`core.store.Store.archive_idle`."""
        in_force = _in_force(
            channel_settings.c.idle_reset_minutes,
            [(o.selector, o.idle_reset_minutes) for o in rules.overrides],
            rules.idle_reset_minutes,
        )
        archived: list[Session] = []
        async with self._write() as conn:
            stored = await conn.execute(sa.select(channel_settings.c.idle_reset_minutes).distinct())
            limits = {rules.idle_reset_minutes, *stored.scalars()}
            limits.update(o.idle_reset_minutes for o in rules.overrides)
            for minutes in sorted(m for m in limits if m):
                cutoff = now - timedelta(minutes=minutes)
                idle = sessions.update().where(
                    sessions.c.status == _ACTIVE,
                    sessions.c.last_activity_at <= cutoff,
                    in_force == minutes,
                )
                result = await conn.execute(
                    _archived_values(idle, ArchiveReason.IDLE, now).returning(*sessions.c)
                )
                archived.extend(_session(row) for row in result.mappings())
        return sorted(archived, key=lambda s: (s.created_at, s.id))

    async def archive_daily(
        self, rules: ResetRules, now: datetime, schedule: tuple[str, str], boundary: datetime
    ) -> list[Session]:
        """See :meth:`core.store.Store.archive_daily`."""
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
        due = sessions.update().where(
            sessions.c.status == _ACTIVE,
            sa.func.coalesce(sessions.c.resumed_at, sessions.c.created_at) < boundary,
            sessions.c.last_activity_at <= now - timedelta(minutes=rules.grace_minutes),
            daily == schedule[0],
            zone == schedule[1],
        )
        async with self._write() as conn:
            result = await conn.execute(
                _archived_values(due, ArchiveReason.DAILY, now).returning(*sessions.c)
            )
            archived = [_session(row) for row in result.mappings()]
        return sorted(archived, key=lambda s: (s.created_at, s.id))

    async def stored_schedules(self) -> set[tuple[str | None, str | None]]:
        """See :meth:`core.store.Store.stored_schedules`."""
        query = sa.select(channel_settings.c.daily_reset_time, channel_settings.c.timezone)
        async with self._read() as conn:
            rows = (await conn.execute(query.distinct())).all()
        return {(row[0], row[1]) for row in rows}

    # -- branches and messages ------------------------------------------------

    async def get_branch(self, branch_id: str) -> Branch | None:
        """See :meth:`core.store.Store.get_branch`."""
        async with self._read() as conn:
            found = await conn.execute(sa.select(branches).where(branches.c.id == branch_id))
            row = found.mappings().first()
        return None if row is None else _branch(row)

    async def branches_of(self, session_id: str) -> list[Branch]:
        """See :meth:`core.store.Store.branches_of`."""
        query = (
            sa.select(branches)
            .where(branches.c.session_id == session_id)
            .order_by(branches.c.created_at, branches.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_branch(row) for row in rows]

    async def branches_forked_from(self, session_id: str) -> list[Branch]:
        """See :meth:`core.store.Store.branches_forked_from`."""
        own = sa.select(branches.c.id).where(branches.c.session_id == session_id)
        query = (
            sa.select(branches)
            .where(branches.c.parent_id.in_(own), branches.c.session_id != session_id)
            .order_by(branches.c.created_at, branches.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_branch(row) for row in rows]

    async def add_branch(self, branch: Branch) -> None:
        """See :meth:`core.store.Store.add_branch`."""
        async with self._write() as conn:
            await conn.execute(branches.insert().values(_branch_values(branch)))

    async def switch_head(self, session_id: str, branch: Branch, at: datetime) -> Session | None:
        """See :meth:`core.store.Store.switch_head`."""
        async with self._write() as conn:
            updated = await conn.execute(
                sessions.update()
                .where(sessions.c.id == session_id)
                .values(head_branch_id=branch.id, message_count=branch.last_seq, updated_at=at)
                .returning(*sessions.c)
            )
            row = updated.mappings().first()
            if row is None:
                return None
            await conn.execute(branches.insert().values(_branch_values(branch)))
        return _session(row)

    async def reparent_branch(self, branch_id: str, parent_id: str | None, fork_seq: int) -> None:
        """See :meth:`core.store.Store.reparent_branch`."""
        async with self._write() as conn:
            await conn.execute(
                branches.update()
                .where(branches.c.id == branch_id)
                .values(parent_id=parent_id, fork_seq=fork_seq)
            )

    async def append_messages(
        self, session_id: str, messages: Sequence[NewMessage], ids: Sequence[str], at: datetime
    ) -> list[Message]:
        """See :meth:`core.store.Store.append_messages`."""
        if len(messages) != len(ids):
            raise ValueError(f"{len(messages)} messages but {len(ids)} ids")
        async with self._write() as conn:
            # Locking the session row first serialises appends with each other and
            # with switch_head, so the head read here is still the head at commit.
            found = await conn.execute(
                sa.select(sessions.c.head_branch_id)
                .where(sessions.c.id == session_id)
                .with_for_update()
            )
            head_id = found.scalar_one_or_none()
            if head_id is None:
                return []
            last_seq = await _allocate_seqs(conn, head_id, len(messages))
            first_seq = last_seq - len(messages) + 1
            stored = [
                Message(
                    id=message_id,
                    session_id=session_id,
                    branch_id=head_id,
                    seq=seq,
                    role=new.role,
                    author=new.author,
                    content=new.content,
                    created_at=at,
                    metadata=dict(new.metadata),
                    tokens_in=new.tokens_in,
                    tokens_out=new.tokens_out,
                )
                for seq, new, message_id in zip(
                    range(first_seq, last_seq + 1), messages, ids, strict=True
                )
            ]
            if stored:
                await conn.execute(messages_table.insert(), [_message_values(m) for m in stored])
            counters: dict[str, Any] = {
                "message_count": last_seq,
                "tokens_in": sessions.c.tokens_in + sum(m.tokens_in for m in stored),
                "tokens_out": sessions.c.tokens_out + sum(m.tokens_out for m in stored),
                "updated_at": at,
            }
            if any(m.role is Role.USER for m in stored):
                counters["last_activity_at"] = at
            await conn.execute(
                sessions.update().where(sessions.c.id == session_id).values(counters)
            )
        return stored

    async def copy_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.store.Store.copy_messages`."""
        if not messages:
            return
        async with self._write() as conn:
            await conn.execute(messages_table.insert(), [_message_values(m) for m in messages])

    async def read_messages(
        self,
        branch_id: str,
        *,
        min_seq: int = 1,
        max_seq: int | None = None,
        limit: int,
        newest_first: bool,
    ) -> list[Message]:
        """See :meth:`core.store.Store.read_messages`."""
        query = _select_messages(
            branch_id, min_seq=min_seq, max_seq=max_seq, limit=limit, newest_first=newest_first
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_message(row) for row in rows]

    async def get_message(self, message_id: str) -> Message | None:
        """See :meth:`core.store.Store.get_message`."""
        async with self._read() as conn:
            found = await conn.execute(
                sa.select(messages_table).where(messages_table.c.id == message_id)
            )
            row = found.mappings().first()
        return None if row is None else _message(row)

    async def rewrite_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.store.Store.rewrite_messages`."""
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
        async with self._write() as conn:
            await conn.execute(rewrite, rows)

    # -- checkpoints ----------------------------------------------------------

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.store.Store.add_checkpoint`."""
        async with self._write() as conn:
            await conn.execute(checkpoints.insert().values(_checkpoint_values(checkpoint)))

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        """See :meth:`core.store.Store.get_checkpoint`."""
        async with self._read() as conn:
            found = await conn.execute(
                sa.select(checkpoints).where(checkpoints.c.id == checkpoint_id)
            )
            row = found.mappings().first()
        return None if row is None else _checkpoint(row)

    async def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """See :meth:`core.store.Store.list_checkpoints`."""
        query = (
            sa.select(checkpoints)
            .where(checkpoints.c.session_id == session_id)
            .order_by(checkpoints.c.created_at, checkpoints.c.id)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_checkpoint(row) for row in rows]

    async def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """See :meth:`core.store.Store.delete_checkpoint`."""
        async with self._write() as conn:
            deleted = await conn.execute(
                checkpoints.delete().where(checkpoints.c.id == checkpoint_id)
            )
        return deleted.rowcount > 0

    async def rewrite_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.store.Store.rewrite_checkpoint`."""
        async with self._write() as conn:
            await conn.execute(
                checkpoints.update()
                .where(checkpoints.c.id == checkpoint.id)
                .values(name=checkpoint.name, description=checkpoint.description)
            )

    async def count_checkpoints(self, session_id: str) -> int:
        """See :meth:`core.store.Store.count_checkpoints`."""
        query = (
            sa.select(sa.func.count())
            .select_from(checkpoints)
            .where(checkpoints.c.session_id == session_id)
        )
        async with self._read() as conn:
            return int((await conn.execute(query)).scalar_one())

    # -- keyring --------------------------------------------------------------

    async def keyring_get(self, name: str) -> KeyringEntry | None:
        """See :meth:`core.store.Store.keyring_get`."""
        async with self._read() as conn:
            return await _keyring_entry(conn, name)

    async def keyring_add(self, entry: KeyringEntry) -> KeyringEntry:
        """See :meth:`core.store.Store.keyring_add`."""
        insert = sqlite.insert if self._is_sqlite else postgresql.insert
        add = insert(keyring).values(_keyring_values(entry)).on_conflict_do_nothing()
        async with self._write() as conn:
            await conn.execute(add)
            stored = await _keyring_entry(conn, entry.name)
        if stored is None:  # deleted between the insert and the read; cannot happen
            raise ConflictError(f"keyring entry {entry.name!r} vanished")  # pragma: no cover
        return stored

    async def keyring_delete(self, name: str) -> None:
        """See :meth:`core.store.Store.keyring_delete`."""
        async with self._write() as conn:
            await conn.execute(keyring.delete().where(keyring.c.name == name))

    async def keyring_page(self, prefix: str, after: str, limit: int) -> list[KeyringEntry]:
        """See :meth:`core.store.Store.keyring_page`."""
        query = (
            sa.select(keyring)
            .where(keyring.c.name.startswith(prefix, autoescape=True), keyring.c.name > after)
            .order_by(keyring.c.name)
            .limit(limit)
        )
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_keyring(row) for row in rows]

    async def keyring_stage(self, name: str, next_value: bytes, next_version: int) -> None:
        """See :meth:`core.store.Store.keyring_stage`."""
        async with self._write() as conn:
            await conn.execute(
                keyring.update()
                .where(keyring.c.name == name)
                .values(next_value=next_value, next_version=next_version)
            )

    async def keyring_commit(self, check: KeyringEntry) -> int:
        """See :meth:`core.store.Store.keyring_commit`."""
        async with self._write() as conn:
            if not self._is_sqlite:
                # A data key added between the count and the swap would stay wrapped
                # under the retired key; this lock holds new keys back until commit.
                await conn.execute(sa.text("LOCK TABLE keyring IN EXCLUSIVE MODE"))
            if await _count_unstaged(conn, _DATA_KEY_PREFIX, check.version):
                raise ConflictError("a data key was added after staging")
            swapped = await conn.execute(
                keyring.update()
                .where(keyring.c.next_value.is_not(None), keyring.c.next_version.is_not(None))
                .values(
                    value=keyring.c.next_value,
                    version=keyring.c.next_version,
                    next_value=None,
                    next_version=None,
                )
            )
            await conn.execute(keyring.delete().where(keyring.c.name == check.name))
            await conn.execute(keyring.insert().values(_keyring_values(check)))
        return swapped.rowcount

    async def keyring_unstaged(self, prefix: str, version: int) -> int:
        """See :meth:`core.store.Store.keyring_unstaged`."""
        async with self._read() as conn:
            return await _count_unstaged(conn, prefix, version)

    # -- channel settings -----------------------------------------------------

    async def get_channel_settings(self, channel_key: str) -> ChannelSettings | None:
        """See :meth:`core.store.Store.get_channel_settings`."""
        async with self._read() as conn:
            found = await conn.execute(
                sa.select(channel_settings).where(channel_settings.c.channel_key == channel_key)
            )
            row = found.mappings().first()
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
        """See :meth:`core.store.Store.put_channel_settings`."""
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
        async with self._write() as conn:
            await conn.execute(upsert)


# -- engine set-up ------------------------------------------------------------


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    """Set SQLite's pragmas on every new connection and take over ``BEGIN``."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # The driver would otherwise emit a deferred BEGIN on its own before the
        # first write; with it off, the "begin" hook below decides the kind.
        dbapi_connection.isolation_level = None
        try:
            cursor = dbapi_connection.cursor()
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()
        except BaseException:
            # The pool drops a connection whose hook failed without closing it, and
            # an unclosed aiosqlite connection keeps its thread.
            dbapi_connection.close()
            raise

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        begin = connection.get_execution_options().get(_SQLITE_BEGIN, "BEGIN")
        if begin:
            connection.exec_driver_sql(begin)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the database file readable by its owner only, then try opening it.

    SQLite would create a missing file with the process umask (often world-readable),
    hence the file is made here first. The trial open with the standard library
    reports an unusable path before aiosqlite sees it: a failed aiosqlite connect
    leaves its worker thread to report to an event loop that may be closed by then.
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


def _upgrade_to_head(connection: sa.Connection) -> None:
    """Apply every Alembic migration not yet applied, on ``connection``'s transaction."""
    if connection.dialect.name == "postgresql":
        # Two workers starting at once would both see an empty database and both
        # create the tables; the lock ends with the transaction.
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
    command.upgrade(alembic_config(connection), "head")


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Return an Alembic configuration for the shipped migrations; no ``alembic.ini``.

    Args:
        connection: the connection ``env.py`` migrates on; without one, ``env.py``
            connects to the ``sqlalchemy.url`` main option, which the caller sets.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


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


async def _active_session(conn: AsyncConnection, scope_key: str) -> Session | None:
    found = await conn.execute(
        sa.select(sessions).where(sessions.c.scope_key == scope_key, sessions.c.status == _ACTIVE)
    )
    row = found.mappings().first()
    return None if row is None else _session(row)


async def _allocate_seqs(conn: AsyncConnection, branch_id: str, count: int) -> int:
    """Reserve ``count`` seqs on a branch; return the last one reserved."""
    updated = await conn.execute(
        branches.update()
        .where(branches.c.id == branch_id)
        .values(last_seq=branches.c.last_seq + count)
        .returning(branches.c.last_seq)
    )
    last_seq = updated.scalar_one_or_none()
    if last_seq is None:
        raise StorageError(f"head branch {branch_id} is missing")
    return int(last_seq)


async def _keyring_entry(conn: AsyncConnection, name: str) -> KeyringEntry | None:
    found = await conn.execute(sa.select(keyring).where(keyring.c.name == name))
    row = found.mappings().first()
    return None if row is None else _keyring(row)


async def _count_unstaged(conn: AsyncConnection, prefix: str, version: int) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(keyring)
        .where(
            keyring.c.name.startswith(prefix, autoescape=True),
            keyring.c.next_version.is_distinct_from(version),
        )
    )
    return int((await conn.execute(query)).scalar_one())


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


def _select_messages(
    branch_id: str, *, min_seq: int, max_seq: int | None, limit: int, newest_first: bool
) -> sa.Select[Any]:
    """One range scan of the ``(branch_id, seq)`` index, whatever the branch's length."""
    query = sa.select(messages_table).where(
        messages_table.c.branch_id == branch_id, messages_table.c.seq >= min_seq
    )
    if max_seq is not None:
        query = query.where(messages_table.c.seq <= max_seq)
    order = messages_table.c.seq.desc() if newest_first else messages_table.c.seq.asc()
    return query.order_by(order).limit(limit)


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


def _message_values(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "session_id": message.session_id,
        "branch_id": message.branch_id,
        "seq": message.seq,
        "role": message.role.value,
        "author": message.author,
        "content": message.content,
        "metadata": dict(message.metadata),
        "tokens_in": message.tokens_in,
        "tokens_out": message.tokens_out,
        "created_at": message.created_at,
    }


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
