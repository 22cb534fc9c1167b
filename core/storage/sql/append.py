"""Appending messages to many sessions in one transaction, with a fixed number of statements.

:class:`~core.storage.sql.store.SqlStore` queues appends in a
:class:`~core.storage.sql.group_commit.GroupCommit` and writes each batch with
:func:`append_batch`: one ``SELECT`` of the sessions' heads (locked on PostgreSQL), then
one multi-row ``UPDATE`` of the branches' seq counters, one of the sessions' counters
and one multi-row ``INSERT`` of the messages, whatever the number of requests. Seqs are
allocated here, in submission order, so two appends to one session in the same batch get
consecutive seqs as if they had run one after the other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from core.errors import ConflictError, StaleSessionError, StorageError
from core.jsontext import json_text
from core.models import Message, NewMessage, Role, SessionStatus
from core.storage.sql.schema import UtcDateTime, branches, sessions
from core.storage.sql.schema import messages as messages_table


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """One call of :meth:`core.storage.protocols.Store.append_messages`."""

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
        exist, a :class:`~core.errors.StorageError` if its head branch is missing,
        or a :class:`~core.errors.StaleSessionError` if it expected a head the
        session no longer has (or the session is archived).
    """
    heads = _load_heads(conn, sorted({r.session_id for r in requests}), lock_rows=lock_rows)
    outcomes, stored = _allocate_all(requests, heads)
    touched = [(sid, h) for sid, h in heads.items() if isinstance(h, _Head) and h.touched]
    if touched:
        conn.execute(
            _MOVE_SEQ, [{"b_id": h.branch_id, "b_last_seq": h.last_seq} for _, h in touched]
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
                for session_id, h in touched
            ],
        )
    if stored:
        conn.execute(messages_table.insert(), [message_values(m) for m in stored])
    return outcomes


_SQLITE_HEADS = (
    "SELECT sessions.id, sessions.head_branch_id, branches.last_seq, sessions.status "
    "FROM sessions JOIN branches ON branches.id = sessions.head_branch_id "
    "WHERE sessions.id IN ({marks})"
)
_SQLITE_SESSIONS = "SELECT id FROM sessions WHERE id IN ({marks})"
_SQLITE_MOVE_SEQ = "UPDATE branches SET last_seq = ? WHERE id = ?"
_SQLITE_MOVE_COUNTERS = (
    "UPDATE sessions SET message_count = ?, tokens_in = tokens_in + ?, "
    "tokens_out = tokens_out + ?, updated_at = ?, "
    "last_activity_at = coalesce(?, last_activity_at) WHERE id = ?"
)
_SQLITE_INSERT = (
    "INSERT INTO messages (id, session_id, branch_id, seq, role, author, content, metadata, "
    "tokens_in, tokens_out, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_MAX_SQLITE_VARIABLES = 900


def append_batch_sqlite(
    db: sqlite3.Connection, requests: Sequence[AppendRequest]
) -> list[list[Message] | Exception]:
    """:func:`append_batch` on a ``sqlite3`` connection inside a write transaction.

    The same statements, with values in the column formats :mod:`core.storage.sql.schema`'s
    types give them on SQLite (naive UTC text for times, compact sorted JSON).
    """
    try:
        return _append_batch_sqlite(db, requests)
    except sqlite3.IntegrityError as exc:
        raise ConflictError(f"cannot append: {exc}") from exc
    except sqlite3.Error as exc:
        raise StorageError(f"cannot append: {exc}") from exc


def _append_batch_sqlite(
    db: sqlite3.Connection, requests: Sequence[AppendRequest]
) -> list[list[Message] | Exception]:
    session_ids = sorted({r.session_id for r in requests})
    heads: dict[str, _Head | Exception] = {}
    for first in range(0, len(session_ids), _MAX_SQLITE_VARIABLES):
        chunk = session_ids[first : first + _MAX_SQLITE_VARIABLES]
        marks = ",".join("?" * len(chunk))
        for session_id, head_id, last_seq, status in db.execute(
            _SQLITE_HEADS.format(marks=marks), chunk
        ):
            heads[session_id] = _Head(head_id, int(last_seq), status == _ACTIVE)
    missing = [session_id for session_id in session_ids if session_id not in heads]
    if missing:
        for first in range(0, len(missing), _MAX_SQLITE_VARIABLES):
            chunk = missing[first : first + _MAX_SQLITE_VARIABLES]
            marks = ",".join("?" * len(chunk))
            for (session_id,) in db.execute(_SQLITE_SESSIONS.format(marks=marks), chunk):
                heads[session_id] = StorageError(f"head branch of session {session_id} is missing")
    outcomes, stored = _allocate_all(requests, heads)
    # A request's messages and its session's new times share one datetime: each is
    # formatted once.
    times: dict[datetime | None, str | None] = {None: None}
    touched = [(sid, h) for sid, h in heads.items() if isinstance(h, _Head) and h.touched]
    if touched:
        db.executemany(_SQLITE_MOVE_SEQ, [(h.last_seq, h.branch_id) for _, h in touched])
        db.executemany(
            _SQLITE_MOVE_COUNTERS,
            [
                (
                    h.last_seq,
                    h.tokens_in,
                    h.tokens_out,
                    _sqlite_time(h.updated_at, times),
                    _sqlite_time(h.last_activity_at, times),
                    session_id,
                )
                for session_id, h in touched
            ],
        )
    if stored:
        db.executemany(_SQLITE_INSERT, [_sqlite_row(m, times) for m in stored])
    return outcomes


def _allocate_all(
    requests: Sequence[AppendRequest], heads: dict[str, _Head | Exception]
) -> tuple[list[list[Message] | Exception], list[Message]]:
    """Each request's outcome, and every message to insert, in submission order."""
    outcomes: list[list[Message] | Exception] = []
    stored: list[Message] = []
    for request in requests:
        head = heads.get(request.session_id)
        if head is None and request.expect_head is None:
            outcomes.append([])
        elif head is None:
            outcomes.append(StaleSessionError(f"session {request.session_id} was deleted"))
        elif isinstance(head, Exception):
            outcomes.append(head)
        elif request.expect_head is not None and (
            not head.active or head.branch_id != request.expect_head
        ):
            outcomes.append(
                StaleSessionError(f"session {request.session_id} was archived or moved on")
            )
        else:
            messages = _allocate(request, head)
            stored.extend(messages)
            outcomes.append(messages)
    return outcomes, stored


def _sqlite_time(
    value: datetime | None, formatted: dict[datetime | None, str | None]
) -> str | None:
    """A time as :class:`~core.storage.sql.schema.UtcDateTime` stores it on SQLite, memoised."""
    if value in formatted:
        return formatted[value]
    assert value is not None  # None is always in ``formatted``
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the store")
    text = formatted[value] = (
        value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    )
    return text


def _sqlite_row(message: Message, times: dict[datetime | None, str | None]) -> tuple[Any, ...]:
    metadata = message.metadata
    return (
        message.id,
        message.session_id,
        message.branch_id,
        message.seq,
        message.role.value,
        message.author,
        message.content,
        json_text(metadata) if metadata else "{}",
        message.tokens_in,
        message.tokens_out,
        _sqlite_time(message.created_at, times),
    )


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
