"""Scheduled sweeps in SQL: a :class:`~core.storage.protocols.SweepPlan` run set-based.

The plan says which sessions are due (the reset policy, written once in
:mod:`core.sessions.resets` as :class:`~core.storage.protocols.InForce` values); this
module compiles it to SQL, each ``InForce`` to ``COALESCE(channel setting, CASE
selector WHEN … END, default)``, and archives what it selects with conditional
updates, a chunk per transaction.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from core.models import ArchiveReason, Session
from core.storage.protocols import InForce, RuleSelector, SweepPlan
from core.storage.sql.rows import session_from_row
from core.storage.sql.schema import channel_settings, sessions
from core.storage.sql.units import ACTIVE, SqlPart, all_rows, archived_values, scalars

SWEEP_CHUNK = 500
"""Sessions a sweep archives per transaction (about 20 ms of SQLite's write lock)."""
SWEEP_PAUSE_SECONDS = 0.01
"""How long a sweep lets other work go first after archiving a full chunk."""

Where = list[sa.ColumnElement[bool]]


class SqlSweeps(SqlPart):
    """The sweeps of scheduled resets, and the schedules channels have stored."""

    async def archive_due(self, plan: SweepPlan, now: datetime) -> list[Session]:
        """See :meth:`core.storage.protocols.Store.archive_due`."""
        archived: list[Session] = []
        for where in await self._conditions(plan, now):
            archived += await self._archive_all(where, plan.reason, now)
        return sorted(archived, key=lambda s: (s.created_at, s.id))

    async def stored_schedules(self) -> set[tuple[str | None, str | None]]:
        """See :meth:`core.storage.protocols.Store.stored_schedules`."""
        query = sa.select(channel_settings.c.daily_reset_time, channel_settings.c.timezone)
        rows = await self._read(all_rows, query.distinct())
        return {(row["daily_reset_time"], row["timezone"]) for row in rows}

    async def _conditions(self, plan: SweepPlan, now: datetime) -> list[Where]:
        """The plan as ``WHERE`` conditions: one set, or one per idle limit in force.

        A limit can only be compared with a time once it is known, so the idle sweep
        runs once for each distinct limit: configured ones and those channels stored.
        """
        where: Where = [sessions.c.status == ACTIVE]
        where += [in_force_sql(in_force) == value for in_force, value in plan.equal]
        if plan.quiet_since is not None:
            where.append(sessions.c.last_activity_at <= plan.quiet_since)
        if plan.started_before is not None:
            started = sa.func.coalesce(sessions.c.resumed_at, sessions.c.created_at)
            where.append(started < plan.started_before)
        limit = plan.idle_limit
        if limit is None:
            return [where]
        stored = sa.select(channel_settings.c[limit.setting]).distinct()
        limits = {limit.default, *(value for _, value in limit.cases)}
        limits.update(await self._read(scalars, stored))
        in_force = in_force_sql(limit)
        return [
            [
                *where,
                in_force == minutes,
                sessions.c.last_activity_at <= now - timedelta(minutes=minutes),
            ]
            for minutes in sorted(m for m in limits if m)
        ]

    async def _archive_all(
        self, where: Where, reason: ArchiveReason, now: datetime
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


def in_force_sql(in_force: InForce[Any]) -> sa.ColumnElement[Any]:
    """:meth:`InForce.value_for <core.storage.protocols.InForce.value_for>` in SQL.

    The channel's stored setting when not NULL, else the first case whose selector
    matches the session's row, else the default.
    """
    setting = (
        sa.select(channel_settings.c[in_force.setting])
        .where(channel_settings.c.channel_key == sessions.c.channel_key)
        .correlate(sessions)
        .scalar_subquery()
    )
    whens = [(_selects(selector), sa.literal(value)) for selector, value in in_force.cases]
    default = sa.literal(in_force.default)
    configured = sa.case(*whens, else_=default) if whens else default
    return sa.func.coalesce(setting, configured)


def _selects(selector: RuleSelector) -> sa.ColumnElement[bool]:
    """:meth:`RuleSelector.matches <core.storage.protocols.RuleSelector.matches>` in SQL."""
    conditions: Where = []
    if selector.platform is not None:
        conditions.append(sessions.c.platform == selector.platform)
    if selector.channel_id is not None:
        conditions.append(sessions.c.channel_id == selector.channel_id)
    if selector.is_direct is not None:
        conditions.append(sessions.c.is_direct == (sa.true() if selector.is_direct else sa.false()))
    return sa.and_(*conditions) if conditions else sa.true()


def _archive_some(
    conn: sa.Connection, where: Where, reason: ArchiveReason, now: datetime, limit: int
) -> tuple[int, list[Session]]:
    """Archive up to ``limit`` active sessions ``where`` holds.

    Returns how many were found, and those archived: on PostgreSQL another worker may
    archive or touch some in between, so the update checks the conditions again.
    """
    ids = list(conn.execute(sa.select(sessions.c.id).where(*where).limit(limit)).scalars())
    if not ids:
        return 0, []
    due = sessions.update().where(sessions.c.id.in_(ids), *where)
    result = conn.execute(archived_values(due, reason, now).returning(*sessions.c))
    return len(ids), [session_from_row(row) for row in result.mappings()]
