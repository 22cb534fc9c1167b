"""Branches, messages and checkpoints in SQL: the part of :class:`~core.storage.sql.store.SqlStore`.

Appends are group-committed by the runner (:mod:`core.storage.sql.append`); everything
else here is a unit of work of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.models import Branch, Checkpoint, Message, NewMessage, Session
from core.storage.search import BlindTerms
from core.storage.sql.append import AppendRequest
from core.storage.sql.rows import (
    MESSAGE_COLUMNS,
    branch_from_row,
    branch_values,
    checkpoint_from_row,
    checkpoint_values,
    message_from_row,
    message_values,
    session_from_row,
)
from core.storage.sql.schema import branches, checkpoints, sessions
from core.storage.sql.schema import messages as messages_table
from core.storage.sql.units import (
    DRIVER_ERRORS,
    LARGE_READ,
    SqlPart,
    all_rows,
    execute_many,
    first,
    rowcount,
    scalar,
)


class SqlHistory(SqlPart):
    """Branches, messages (appended, copied, read, re-encoded) and checkpoints."""

    # -- branches -----------------------------------------------------------------

    async def get_branch(self, branch_id: str) -> Branch | None:
        """See :meth:`core.storage.protocols.Store.get_branch`."""
        if self._unstorable(branch_id):
            return None
        row = await self._read(first, _BRANCH_BY_ID, {"id": branch_id})
        return None if row is None else branch_from_row(row)

    async def branches_of(self, session_id: str) -> list[Branch]:
        """See :meth:`core.storage.protocols.Store.branches_of`."""
        query = (
            sa.select(branches)
            .where(branches.c.session_id == session_id)
            .order_by(branches.c.created_at, branches.c.id)
        )
        return [branch_from_row(row) for row in await self._read_large(all_rows, query)]

    async def branches_forked_from(self, session_id: str) -> list[Branch]:
        """See :meth:`core.storage.protocols.Store.branches_forked_from`."""
        own = sa.select(branches.c.id).where(branches.c.session_id == session_id)
        query = (
            sa.select(branches)
            .where(branches.c.parent_id.in_(own), branches.c.session_id != session_id)
            .order_by(branches.c.created_at, branches.c.id)
        )
        return [branch_from_row(row) for row in await self._read_large(all_rows, query)]

    async def add_branch(self, branch: Branch) -> None:
        """See :meth:`core.storage.protocols.Store.add_branch`."""
        await self._write_quick(_insert, branches, branch_values(branch))

    async def switch_head(
        self, session_id: str, branch: Branch, at: datetime, *, undo: Checkpoint | None = None
    ) -> Session | None:
        """See :meth:`core.storage.protocols.Store.switch_head`."""
        return await self._write_quick(_switch_head, session_id, branch, at, undo)

    async def reparent_branch(self, branch_id: str, parent_id: str | None, fork_seq: int) -> None:
        """See :meth:`core.storage.protocols.Store.reparent_branch`."""
        reparent = (
            branches.update()
            .where(branches.c.id == branch_id)
            .values(parent_id=parent_id, fork_seq=fork_seq)
        )
        await self._write_quick(rowcount, reparent)

    # -- messages -----------------------------------------------------------------

    async def append_messages(
        self,
        session_id: str,
        messages: Sequence[NewMessage],
        ids: Sequence[str],
        at: datetime,
        *,
        expect_head: str | None = None,
        blind_terms: Sequence[BlindTerms] = (),
    ) -> list[Message]:
        """See :meth:`core.storage.protocols.Store.append_messages`.

        Group-committed: appends to other sessions submitted meanwhile share the
        transaction; this returns once it has committed.
        """
        if len(messages) != len(ids):
            raise ValueError(f"{len(messages)} messages but {len(ids)} ids")
        request = AppendRequest(
            session_id, tuple(messages), tuple(ids), at, expect_head, tuple(blind_terms)
        )
        try:
            return await self._runner.append(request)
        except DRIVER_ERRORS as exc:
            raise self._storage_error(exc) from None

    async def copy_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.storage.protocols.Store.copy_messages`."""
        if messages:
            rows = [message_values(m) for m in messages]
            await self._write(execute_many, messages_table.insert(), rows)

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
        query = _NEWEST_MESSAGES if newest_first else _OLDEST_MESSAGES
        bounds = {
            "branch_id": branch_id,
            "min_seq": min_seq,
            # No upper bound is the largest seq there can be: one statement serves both.
            "max_seq": _MAX_SEQ if max_seq is None else max_seq,
            "limit": limit,
        }
        read = self._read if limit <= LARGE_READ else self._read_large
        return await read(_messages, query, bounds)

    async def get_message(self, message_id: str) -> Message | None:
        """See :meth:`core.storage.protocols.Store.get_message`."""
        if self._unstorable(message_id):
            return None
        found = await self._read(_messages, _MESSAGE_BY_ID, {"id": message_id})
        return found[0] if found else None

    async def rewrite_messages(self, messages: Sequence[Message]) -> None:
        """See :meth:`core.storage.protocols.Store.rewrite_messages`."""
        if not messages:
            return
        rows = [
            {"message_id": m.id, "new_content": m.content, "new_metadata": dict(m.metadata)}
            for m in messages
        ]
        await self._write(execute_many, _REWRITE_MESSAGE, rows)

    # -- checkpoints --------------------------------------------------------------

    async def add_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.storage.protocols.Store.add_checkpoint`."""
        await self._write_quick(_insert, checkpoints, checkpoint_values(checkpoint))

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint | None:
        """See :meth:`core.storage.protocols.Store.get_checkpoint`."""
        if self._unstorable(checkpoint_id):
            return None
        query = sa.select(checkpoints).where(checkpoints.c.id == checkpoint_id)
        row = await self._read(first, query)
        return None if row is None else checkpoint_from_row(row)

    async def list_checkpoints(self, session_id: str) -> list[Checkpoint]:
        """See :meth:`core.storage.protocols.Store.list_checkpoints`."""
        query = (
            sa.select(checkpoints)
            .where(checkpoints.c.session_id == session_id)
            .order_by(checkpoints.c.created_at, checkpoints.c.id)
        )
        return [checkpoint_from_row(row) for row in await self._read_large(all_rows, query)]

    async def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """See :meth:`core.storage.protocols.Store.delete_checkpoint`."""
        delete = checkpoints.delete().where(checkpoints.c.id == checkpoint_id)
        return await self._write_quick(rowcount, delete) > 0

    async def rewrite_checkpoint(self, checkpoint: Checkpoint) -> None:
        """See :meth:`core.storage.protocols.Store.rewrite_checkpoint`."""
        rewrite = (
            checkpoints.update()
            .where(checkpoints.c.id == checkpoint.id)
            .values(name=checkpoint.name, description=checkpoint.description)
        )
        await self._write_quick(rowcount, rewrite)

    async def count_checkpoints(self, session_id: str) -> int:
        """See :meth:`core.storage.protocols.Store.count_checkpoints`."""
        query = (
            sa.select(sa.func.count())
            .select_from(checkpoints)
            .where(checkpoints.c.session_id == session_id)
        )
        return int(await self._read(scalar, query))


# -- statements, built once: building one costs more than running it cached -------


def _messages_in_range(order: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """One range scan of the ``(branch_id, seq)`` index, whatever the branch's length."""
    return (
        sa.select(*MESSAGE_COLUMNS)
        .where(
            messages_table.c.branch_id == sa.bindparam("branch_id"),
            messages_table.c.seq >= sa.bindparam("min_seq"),
            messages_table.c.seq <= sa.bindparam("max_seq"),
        )
        .order_by(order)
        .limit(sa.bindparam("limit", type_=sa.Integer))
    )


_MAX_SEQ = 2**31 - 1
_NEWEST_MESSAGES = _messages_in_range(messages_table.c.seq.desc())
_OLDEST_MESSAGES = _messages_in_range(messages_table.c.seq.asc())
_MESSAGE_BY_ID = sa.select(*MESSAGE_COLUMNS).where(messages_table.c.id == sa.bindparam("id"))
_BRANCH_BY_ID = sa.select(branches).where(branches.c.id == sa.bindparam("id"))
_REWRITE_MESSAGE = (
    messages_table.update()
    .where(messages_table.c.id == sa.bindparam("message_id"))
    .values(content=sa.bindparam("new_content"), metadata=sa.bindparam("new_metadata"))
)


# -- units of work ---------------------------------------------------------------


def _messages(
    conn: sa.Connection, query: sa.Executable, params: Mapping[str, Any]
) -> list[Message]:
    return [message_from_row(row) for row in conn.execute(query, params)]


def _insert(conn: sa.Connection, table: sa.Table, values: Mapping[str, Any]) -> None:
    conn.execute(table.insert(), values)


def _switch_head(
    conn: sa.Connection, session_id: str, branch: Branch, at: datetime, undo: Checkpoint | None
) -> Session | None:
    if undo is not None:
        head = sa.select(sessions.c.head_branch_id, sessions.c.message_count).where(
            sessions.c.id == session_id
        )
        if conn.dialect.name == "postgresql":
            head = head.with_for_update()  # no append may slip between this and the switch
        found = conn.execute(head).first()
        if found is None:
            return None
        left = dataclasses.replace(undo, branch_id=found[0], seq=found[1])
        conn.execute(checkpoints.insert(), checkpoint_values(left))
    updated = conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id)
        .values(head_branch_id=branch.id, message_count=branch.last_seq, updated_at=at)
        .returning(*sessions.c)
    )
    row = updated.mappings().first()
    if row is None:
        return None
    conn.execute(branches.insert(), branch_values(branch))
    return session_from_row(row)
