"""Activity in SQL: the part of :class:`~core.storage.sql.store.SqlStore` counting it.

Both counts read the span counted, not the whole database: sessions through
``ix_sessions_status_archived_at``; messages through their primary key, since
message ids sort by the time they were made (:func:`core.ids.new_ordered_ids`), so
an index of their own, and its cost on every message stored, is not needed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from core.ids import first_ordered_id
from core.models import ArchiveReason, Role
from core.storage.sql.schema import messages, sessions
from core.storage.sql.units import SqlPart, all_rows


def _minute(dialect: str) -> sa.ColumnElement[Any]:
    """A message's minute, as the database computes it.

    ``date_trunc`` on PostgreSQL; on SQLite, where times are text
    (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC), the text up to the minute.
    """
    if dialect == "postgresql":
        return sa.func.date_trunc("minute", messages.c.created_at)
    return sa.func.substr(sa.cast(messages.c.created_at, sa.Text), 1, 16)


def _as_minute(value: datetime | str) -> datetime:
    if isinstance(value, str):
        return datetime.strptime(value, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


_ID_SLACK = timedelta(minutes=5)


class SqlActivity(SqlPart):
    """Messages per minute and sessions ended (see :class:`core.storage.activity.Activity`)."""

    async def messages_per_minute(self, since: datetime) -> dict[datetime, int]:
        """See :meth:`core.storage.protocols.Store.messages_per_minute`."""
        minute = _minute(self._dialect).label("minute")
        # An id is made a moment before its message's time is set (and another
        # worker's clock may run a little behind): start the key range earlier, and
        # let created_at decide.
        lowest = first_ordered_id(int((since - _ID_SLACK).timestamp() * 1000))
        query = (
            sa.select(minute, sa.func.count().label("n"))
            .where(
                messages.c.id >= lowest,
                messages.c.created_at >= since,
                messages.c.role == Role.USER.value,
            )
            .group_by(minute)
        )
        rows = await self._read(all_rows, query)
        return {_as_minute(row["minute"]): int(row["n"]) for row in rows}

    async def sessions_ended(self, since: datetime) -> dict[ArchiveReason, int]:
        """See :meth:`core.storage.protocols.Store.sessions_ended`."""
        query = (
            sa.select(sessions.c.archive_reason, sa.func.count().label("n"))
            .where(sessions.c.status == "archived", sessions.c.archived_at >= since)
            .group_by(sessions.c.archive_reason)
        )
        rows = await self._read(all_rows, query)
        return {
            ArchiveReason(row["archive_reason"]): int(row["n"])
            for row in rows
            if row["archive_reason"] is not None
        }
