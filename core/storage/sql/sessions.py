"""Sessions and channel settings in SQL: the part of :class:`~core.storage.sql.store.SqlStore`."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from core.errors import ConflictError
from core.models import ArchiveReason, Branch, ChannelSettings, Session, SessionStatus
from core.storage.filters import SessionOrder
from core.storage.protocols import SessionFilter, ascii_lower
from core.storage.sql.rows import (
    branch_values,
    session_from_row,
    session_values,
    settings_from_row,
    settings_values,
)
from core.storage.sql.schema import (
    blind_index,
    branches,
    channel_settings,
    checkpoints,
    sessions,
)
from core.storage.sql.schema import messages as messages_table
from core.storage.sql.units import (
    ACTIVE,
    DIALECTS,
    LARGE_READ,
    SqlPart,
    all_rows,
    archive,
    archived_values,
    as_text,
    first,
    rowcount,
    scalars,
)

_START_ATTEMPTS = 3
"""Attempts at inserting an active session when the conflicting one disappears between
the insert and the look-up (PostgreSQL, read committed)."""


class SqlSessions(SqlPart):
    """Sessions (start, find, list, archive, resume, change, delete) and channel settings."""

    async def start_session(
        self,
        session: Session,
        root: Branch,
        *,
        archive_id: str | None = None,
        archive_reason: ArchiveReason | None = None,
    ) -> Session:
        """See :meth:`core.storage.protocols.Store.start_session`."""
        insert = _INSERT_IF_NO_ACTIVE[self._dialect]
        return await self._write_quick(
            _start_session, session, root, archive_id, archive_reason, insert
        )

    async def get_session(self, session_id: str) -> Session | None:
        """See :meth:`core.storage.protocols.Store.get_session`."""
        if self._unstorable(session_id):
            return None
        row = await self._read(first, _SESSION_BY_ID, {"id": session_id})
        return None if row is None else session_from_row(row)

    async def get_active_session(self, scope_key: str) -> Session | None:
        """See :meth:`core.storage.protocols.Store.get_active_session`."""
        if self._unstorable(scope_key):
            return None
        row = await self._read(first, _ACTIVE_SESSION, {"scope_key": scope_key})
        return None if row is None else session_from_row(row)

    async def list_sessions(
        self, where: SessionFilter, *, limit: int, offset: int = 0
    ) -> list[Session]:
        """See :meth:`core.storage.protocols.Store.list_sessions`."""
        if where.holds_nul and self._dialect == "postgresql":
            return []  # nothing stored in PostgreSQL text holds U+0000
        given = _filters(where)
        query = _session_list(tuple(given), where.order, self._dialect)
        params = {**given, "limit": limit, "offset": offset}
        read = self._read if limit <= LARGE_READ else self._read_large
        return [session_from_row(row) for row in await read(all_rows, query, params)]

    async def count_sessions(self, where: SessionFilter) -> int:
        """See :meth:`core.storage.protocols.Store.count_sessions`."""
        if where.holds_nul and self._dialect == "postgresql":
            return 0
        given = _filters(where)
        counted = sa.select(sa.func.count().label("n")).select_from(sessions)
        query = _filtered(counted, tuple(given), where.order, self._dialect)
        row = await self._read(first, query, given)
        return int(row["n"]) if row is not None else 0

    async def archive_session(self, session_id: str, reason: ArchiveReason, at: datetime) -> bool:
        """See :meth:`core.storage.protocols.Store.archive_session`."""
        return await self._write_quick(rowcount, archive(session_id, reason, at)) > 0

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
        expect_updated_at: datetime | None = None,
    ) -> Session | None:
        """See :meth:`core.storage.protocols.Store.update_session`."""
        changes: dict[str, Any] = {"updated_at": at}
        if title is not None:
            changes["title"] = title
        if tags is not None:
            changes["tags"] = list(tags)
        if metadata is not None:
            changes["metadata"] = dict(metadata)
        update = sessions.update().where(sessions.c.id == session_id)
        if expect_updated_at is not None:
            update = update.where(sessions.c.updated_at == expect_updated_at)
        update = update.values(changes).returning(*sessions.c)
        row = await self._write_quick(first, update)
        return None if row is None else session_from_row(row)

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
        read = self._read if limit <= LARGE_READ else self._read_large
        return [str(value) for value in await read(scalars, query)]

    # -- channel settings -----------------------------------------------------

    async def get_channel_settings(self, channel_key: str) -> ChannelSettings | None:
        """See :meth:`core.storage.protocols.Store.get_channel_settings`."""
        if self._unstorable(channel_key):
            return None
        row = await self._read(first, _CHANNEL_SETTINGS, {"channel_key": channel_key})
        return None if row is None else settings_from_row(row)

    async def put_channel_settings(self, settings: ChannelSettings) -> None:
        """See :meth:`core.storage.protocols.Store.put_channel_settings`."""
        values = settings_values(settings)
        insert = sqlite.insert if self._dialect == "sqlite" else postgresql.insert
        upsert = (
            insert(channel_settings)
            .values(values)
            .on_conflict_do_update(
                index_elements=[channel_settings.c.channel_key],
                set_={key: value for key, value in values.items() if key != "channel_key"},
            )
        )
        await self._write_quick(rowcount, upsert)


# -- statements, built once: building one costs more than running it cached -------

_SESSION_BY_ID = sa.select(sessions).where(sessions.c.id == sa.bindparam("id"))
_ACTIVE_SESSION = sa.select(sessions).where(
    sessions.c.scope_key == sa.bindparam("scope_key"), sessions.c.status == ACTIVE
)
_CHANNEL_SETTINGS = sa.select(channel_settings).where(
    channel_settings.c.channel_key == sa.bindparam("channel_key")
)
_INSERT_IF_NO_ACTIVE = {
    name: as_text(
        dml.insert(sessions).on_conflict_do_nothing(
            index_elements=[sessions.c.scope_key], index_where=sessions.c.status == ACTIVE
        ),
        dialect,
        [sessions.c.id],
    )
    for name, dml, dialect in DIALECTS
}
"""Insert a session unless its scope key has an active one; the values come as parameters."""


def _filters(where: SessionFilter) -> dict[str, Any]:
    """The column values ``where`` asks for, by column name (``owners``: a list)."""
    return {
        name: value
        for name, value in (
            ("scope_key", where.scope_key),
            ("platform", where.platform),
            ("channel_id", where.channel_id),
            ("status", where.status),
            ("owner", None if where.owners is None else list(where.owners)),
            ("title", None if where.title_contains is None else _like(where.title_contains)),
            ("tag", where.tag_contains),
            ("after_at", None if where.after is None else where.after[0]),
            ("after_id", None if where.after is None else where.after[1]),
        )
        if value is not None
    }


def _like(text: str) -> str:
    """A ``LIKE`` pattern matching titles that hold ``text``, escaped with backslashes."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{ascii_lower(escaped)}%"


def _filtered(
    query: sa.Select[Any], filters: tuple[str, ...], order: SessionOrder, dialect: str
) -> sa.Select[Any]:
    for name in filters:
        if name == "owner":
            query = query.where(sessions.c.owner.in_(sa.bindparam(name, expanding=True)))
        elif name == "after_at":  # keyset: (time, id) below the previous page's last
            column = _ORDER_COLUMNS[order]
            after_at = sa.bindparam(name, type_=column.type)
            after_id = sa.bindparam("after_id", type_=sessions.c.id.type)
            query = query.where(
                sa.or_(column < after_at, sa.and_(column == after_at, sessions.c.id < after_id))
            )
        elif name == "after_id":
            continue  # bound with after_at
        elif name == "title":
            # lower() folds ASCII letters on SQLite; the pattern is lower-cased likewise.
            pattern = sa.bindparam(name, type_=sa.String)
            query = query.where(sa.func.lower(sessions.c.title).like(pattern, escape="\\"))
        elif name == "tag":
            query = query.where(_tag_holds(sa.bindparam(name, type_=sa.String), dialect))
        else:
            query = query.where(sessions.c[name] == sa.bindparam(name))
    return query


_ORDER_COLUMNS = {
    SessionOrder.CREATED: sessions.c.created_at,
    SessionOrder.ACTIVITY: sessions.c.last_activity_at,
}


def _tag_holds(text: sa.BindParameter[str], dialect: str) -> sa.ColumnElement[bool]:
    """``EXISTS`` a tag of the session (a JSON array of text) holding ``text``.

    Tags are stored case-folded and ``text`` comes case-folded, so a plain substring
    test (``instr``, ``strpos``) is exact, with nothing to escape as ``LIKE`` needs.
    """
    if dialect == "postgresql":
        tags = sa.func.json_array_elements_text(sa.cast(sessions.c.tags, postgresql.JSON))
        tag = tags.table_valued("value").alias("tag")
        holds = sa.func.strpos(tag.c.value, text) > 0
    else:
        tag = sa.func.json_each(sessions.c.tags).table_valued("value").alias("tag")
        holds = sa.func.instr(tag.c.value, text) > 0
    return sa.exists(sa.select(sa.literal(1)).select_from(tag).where(holds))


@functools.cache
def _session_list(filters: tuple[str, ...], order: SessionOrder, dialect: str) -> sa.Select[Any]:
    """The ``list_sessions`` statement filtering on the named columns, built once."""
    query = _filtered(sa.select(sessions), filters, order, dialect)
    return (
        query.order_by(_ORDER_COLUMNS[order].desc(), sessions.c.id.desc())
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .offset(sa.bindparam("offset", type_=sa.Integer))
    )


# -- units of work ---------------------------------------------------------------


def _start_session(
    conn: sa.Connection,
    session: Session,
    root: Branch,
    archive_id: str | None,
    archive_reason: ArchiveReason | None,
    insert_if_no_active: sa.TextualSelect,
) -> Session:
    if archive_id is not None:
        conn.execute(archive(archive_id, archive_reason or ArchiveReason.NEW, session.created_at))
    values = session_values(session)
    if not session.is_active:
        conn.execute(sessions.insert(), values)
        conn.execute(branches.insert(), branch_values(root))
        return session
    for _ in range(_START_ATTEMPTS):
        if conn.execute(insert_if_no_active, values).first() is not None:
            conn.execute(branches.insert(), branch_values(root))
            return session
        winner = first(conn, _ACTIVE_SESSION, {"scope_key": session.scope_key})
        if winner is not None:
            return session_from_row(winner)
    raise ConflictError(f"scope key {session.scope_key!r} keeps changing; try again")


def _activate_session(
    conn: sa.Connection, session_id: str, at: datetime, displaced_reason: ArchiveReason
) -> Session | None:
    found = conn.execute(sa.select(sessions).where(sessions.c.id == session_id).with_for_update())
    target = found.mappings().first()
    if target is None:
        return None
    if target["status"] == SessionStatus.ACTIVE:
        return session_from_row(target)
    conn.execute(
        archived_values(
            sessions.update().where(
                sessions.c.scope_key == target["scope_key"],
                sessions.c.status == ACTIVE,
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
    return session_from_row(resumed.mappings().one())


def _delete_session(conn: sa.Connection, session_id: str) -> bool:
    own_branches = sa.select(branches.c.id).where(branches.c.session_id == session_id)
    conn.execute(checkpoints.delete().where(checkpoints.c.session_id == session_id))
    conn.execute(messages_table.delete().where(messages_table.c.branch_id.in_(own_branches)))
    conn.execute(branches.delete().where(branches.c.session_id == session_id))
    conn.execute(blind_index.delete().where(blind_index.c.session_id == session_id))
    deleted = conn.execute(sessions.delete().where(sessions.c.id == session_id))
    return deleted.rowcount > 0
