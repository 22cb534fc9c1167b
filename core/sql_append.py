"""Appending messages to many sessions in one transaction, with a fixed number of statements.

:class:`core.sql_store.SqlStore` queues appends in a :class:`~core.group_commit.GroupCommit`
and writes each batch with :func:`append_batch`: one ``SELECT`` of the sessions' heads
(locked on PostgreSQL), then one multi-row ``UPDATE`` of the branches' seq counters,
one of the sessions' counters and one multi-row ``INSERT`` of the messages, whatever
the number of requests. Seqs are allocated here, in submission order, so two appends to
one session in the same batch get consecutive seqs as if they had run one after the
other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.errors import StaleSessionError, StorageError
from core.models import Message, NewMessage, Role, SessionStatus
from core.schema import UtcDateTime, branches, sessions
from core.schema import messages as messages_table


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """One call of :meth:`core.store.Store.append_messages`."""

    session_id: str
    messages: Sequence[NewMessage]
    ids: Sequence[str]
    at: datetime
    expect_head: str | None = None


@dataclass(slots=True)
class _Head:
    """A session's head branch and the counters the batch moves."""

    branch_id: str
    last_seq: int
    active: bool
    tokens_in: int = 0
    tokens_out: int = 0
    updated_at: datetime | None = None
    last_activity_at: datetime | None = None
    touched: bool = False


_ACTIVE = SessionStatus.ACTIVE.value

_MOVE_SEQ = (
    branches.update()
    .where(branches.c.id == sa.bindparam("b_id"))
    .values(last_seq=sa.bindparam("b_last_seq"))
)

_MOVE_COUNTERS = (
    sessions.update()
    .where(sessions.c.id == sa.bindparam("s_id"))
    .values(
        message_count=sa.bindparam("s_message_count"),
        tokens_in=sessions.c.tokens_in + sa.bindparam("s_tokens_in", type_=sa.BigInteger),
        tokens_out=sessions.c.tokens_out + sa.bindparam("s_tokens_out", type_=sa.BigInteger),
        updated_at=sa.bindparam("s_updated_at", type_=UtcDateTime),
        # Only user messages keep a session alive (idle resets); NULL keeps the time.
        last_activity_at=sa.func.coalesce(
            sa.bindparam("s_last_activity_at", type_=UtcDateTime), sessions.c.last_activity_at
        ),
    )
)


def append_batch(
    conn: sa.Connection, requests: Sequence[AppendRequest], *, lock_rows: bool
) -> list[list[Message] | Exception]:
    """Append every request's messages on ``conn``'s transaction.

    Args:
        conn: a connection inside a write transaction (``BEGIN IMMEDIATE`` on SQLite).
        requests: the appends, in submission order.
        lock_rows: lock the sessions' and head branches' rows (PostgreSQL), so that
            another process's appends to the same sessions wait for this commit.

    Returns:
        For each request: its stored messages, an empty list if its session does not
        exist, or a :class:`~core.errors.StorageError` if its head branch is missing.
    """
    heads = _load_heads(conn, sorted({r.session_id for r in requests}), lock_rows=lock_rows)
    outcomes: list[list[Message] | Exception] = []
    rows: list[dict[str, Any]] = []
    for request in requests:
        head = heads.get(request.session_id)
        if head is None:
            outcomes.append([])
            continue
        if isinstance(head, Exception):
            outcomes.append(head)
            continue
        if request.expect_head is not None and (
            not head.active or head.branch_id != request.expect_head
        ):
            outcomes.append(
                StaleSessionError(f"session {request.session_id} was archived or moved on")
            )
            continue
        stored = _allocate(request, head)
        rows.extend(message_values(message) for message in stored)
        outcomes.append(stored)
    touched = {sid: h for sid, h in heads.items() if isinstance(h, _Head) and h.touched}
    if touched:
        conn.execute(
            _MOVE_SEQ, [{"b_id": h.branch_id, "b_last_seq": h.last_seq} for h in touched.values()]
        )
        conn.execute(
            _MOVE_COUNTERS,
            [
                {
                    "s_id": session_id,
                    "s_message_count": h.last_seq,
                    "s_tokens_in": h.tokens_in,
                    "s_tokens_out": h.tokens_out,
                    "s_updated_at": h.updated_at,
                    "s_last_activity_at": h.last_activity_at,
                }
                for session_id, h in touched.items()
            ],
        )
    if rows:
        conn.execute(messages_table.insert(), rows)
    return outcomes


def _load_heads(
    conn: sa.Connection, session_ids: list[str], *, lock_rows: bool
) -> dict[str, _Head | Exception]:
    """Return the head branch of each existing session; sessions that do not exist are left out."""
    query = (
        sa.select(sessions.c.id, sessions.c.head_branch_id, branches.c.last_seq, sessions.c.status)
        .join_from(sessions, branches, branches.c.id == sessions.c.head_branch_id)
        .where(sessions.c.id.in_(session_ids))
        # One lock order for every batch, so two processes' batches cannot deadlock.
        .order_by(sessions.c.id)
    )
    if lock_rows:
        query = query.with_for_update()
    heads: dict[str, _Head | Exception] = {
        row.id: _Head(row.head_branch_id, int(row.last_seq), row.status == _ACTIVE)
        for row in conn.execute(query)
    }
    missing = [session_id for session_id in session_ids if session_id not in heads]
    if missing:
        headless = conn.execute(sa.select(sessions.c.id).where(sessions.c.id.in_(missing)))
        for session_id in headless.scalars():
            heads[session_id] = StorageError(f"head branch of session {session_id} is missing")
    return heads


def _allocate(request: AppendRequest, head: _Head) -> list[Message]:
    """Give the request's messages the next seqs of ``head`` and move its counters."""
    first = head.last_seq + 1
    stored = [
        Message(
            id=message_id,
            session_id=request.session_id,
            branch_id=head.branch_id,
            seq=seq,
            role=new.role,
            author=new.author,
            content=new.content,
            created_at=request.at,
            metadata=dict(new.metadata),
            tokens_in=new.tokens_in,
            tokens_out=new.tokens_out,
        )
        for seq, new, message_id in zip(
            range(first, first + len(request.messages)), request.messages, request.ids, strict=True
        )
    ]
    head.last_seq += len(stored)
    head.tokens_in += sum(m.tokens_in for m in stored)
    head.tokens_out += sum(m.tokens_out for m in stored)
    head.updated_at = request.at
    if any(m.role is Role.USER for m in stored):
        head.last_activity_at = request.at
    head.touched = True
    return stored


def message_values(message: Message) -> dict[str, Any]:
    """Return the ``messages`` row of a message."""
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
