"""Appending messages to many sessions in one transaction, with a fixed number of statements.

The runner (:mod:`core.storage.sql.runner`) group-commits appends and writes each run
of them with :func:`append_batch` (SQLAlchemy, PostgreSQL) or
:func:`append_batch_sqlite` (the ``sqlite3`` driver, SQLite's hot path): one
``SELECT`` of the sessions' heads (locked on PostgreSQL), then one multi-row ``UPDATE``
of the branches' seq counters, one of the sessions' counters and one multi-row
``INSERT`` of the messages, whatever the number of requests. Both send the same
statements, built once here from :mod:`core.storage.sql.schema`, with row values from
:mod:`core.storage.sql.rows`. Seqs are allocated here, in submission order, so two
appends to one session in the same batch get consecutive seqs as if they had run one
after the other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from core.errors import ConflictError, StaleSessionError, StorageError
from core.models import Message, NewMessage, Role, SessionStatus
from core.storage.message_times import message_times
from core.storage.search import BlindTerms
from core.storage.sql.rows import (
    MESSAGE_COLUMNS,
    SQLITE_DIALECT,
    SQLITE_JSON,
    BatchTimes,
    Processor,
    as_is,
    message_params,
    message_values,
)
from core.storage.sql.schema import UtcDateTime, blind_index, branches, sessions
from core.storage.sql.schema import messages as messages_table


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """One call of :meth:`core.storage.protocols.Store.append_messages`."""

    session_id: str
    messages: Sequence[NewMessage]
    ids: Sequence[str]
    at: datetime
    expect_head: str | None = None
    blind_terms: Sequence[BlindTerms] = ()


Outcome = list[Message] | Exception
"""A request's stored messages, or why nothing of it was stored."""


@dataclass(slots=True)
class _Head:
    """A session's head branch and the counters the batch moves."""

    branch_id: str
    last_seq: int
    active: bool
    newest: tuple[datetime | None, ...] = ()
    """What the next message must come after (see :mod:`core.storage.message_times`)."""
    tokens_in: int = 0
    tokens_out: int = 0
    updated_at: datetime | None = None
    last_activity_at: datetime | None = None
    touched: bool = False


_ACTIVE = SessionStatus.ACTIVE.value

_MOVE_SEQ = (
    branches.update()
    .where(branches.c.id == sa.bindparam("id_"))
    .values(last_seq=sa.bindparam("last_seq_"))
)

_MOVE_COUNTERS = (
    sessions.update()
    .where(sessions.c.id == sa.bindparam("id_"))
    .values(
        message_count=sa.bindparam("message_count_"),
        tokens_in=sessions.c.tokens_in + sa.bindparam("tokens_in_", type_=sa.BigInteger),
        tokens_out=sessions.c.tokens_out + sa.bindparam("tokens_out_", type_=sa.BigInteger),
        updated_at=sa.bindparam("updated_at_", type_=UtcDateTime),
        # Only user messages keep a session alive (idle resets); NULL keeps the time.
        last_activity_at=sa.func.coalesce(
            sa.bindparam("last_activity_at_", type_=UtcDateTime), sessions.c.last_activity_at
        ),
    )
)

_INSERT = messages_table.insert()
_COUNTER_KEYS = (
    "message_count_",
    "tokens_in_",
    "tokens_out_",
    "updated_at_",
    "last_activity_at_",
    "id_",
)
"""The counter update's parameters, in the order :func:`_counters` gives them."""


# The head branch's newest message (its own, or the one at its fork point): the time
# a new message must come after. Both look-ups use the unique (branch_id, seq) index.
_OWN = messages_table.alias("own")
_FORK = messages_table.alias("fork")
_NEWEST = (_OWN.c.created_at, _FORK.c.created_at)


def _with_newest(select: sa.Select[Any]) -> sa.Select[Any]:
    return select.outerjoin(
        _OWN, sa.and_(_OWN.c.branch_id == branches.c.id, _OWN.c.seq == branches.c.last_seq)
    ).outerjoin(
        _FORK,
        sa.and_(_FORK.c.branch_id == branches.c.parent_id, _FORK.c.seq == branches.c.fork_seq),
    )


_HEADS = _with_newest(
    sa.select(
        sessions.c.id, sessions.c.head_branch_id, branches.c.last_seq, sessions.c.status, *_NEWEST
    ).join_from(sessions, branches, branches.c.id == sessions.c.head_branch_id)
).where(sessions.c.id.in_(sa.bindparam("ids", expanding=True)))

# PostgreSQL locks the rows in two statements, sessions first (the order every head
# switch takes too, and by id, so two processes' batches cannot deadlock). One
# ``sessions JOIN branches … FOR UPDATE`` would not do: READ COMMITTED, after waiting
# for a head switch to commit, re-checks the session's new row but not the join, and
# finds no row at all. Each statement here sees what committed before it began.
_LOCKED_SESSIONS = (
    sa.select(sessions.c.id, sessions.c.head_branch_id, sessions.c.status)
    .where(sessions.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(sessions.c.id)
    .with_for_update()
)
_LOCKED_BRANCHES = (
    _with_newest(sa.select(branches.c.id, branches.c.last_seq, *_NEWEST).select_from(branches))
    .where(branches.c.id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(branches.c.id)
    .with_for_update(of=branches)
)


def _locked_heads(conn: sa.Connection, session_ids: list[str]) -> list[tuple[Any, ...]]:
    """Lock the sessions, then their head branches; rows as :data:`_HEADS` gives them."""
    found = conn.execute(_LOCKED_SESSIONS, {"ids": session_ids}).all()
    heads = [head_id for _, head_id, _ in found]
    locked = conn.execute(_LOCKED_BRANCHES, {"ids": sorted(set(heads))})
    by_id: dict[str, tuple[Any, ...]] = {row[0]: tuple(row[1:]) for row in locked}
    return [
        (session_id, head_id, by_id[head_id][0], status, *by_id[head_id][1:])
        for session_id, head_id, status in found
        if head_id in by_id
    ]


_SESSIONS = sa.select(sessions.c.id).where(sessions.c.id.in_(sa.bindparam("ids", expanding=True)))


def append_batch(
    conn: sa.Connection, requests: Sequence[AppendRequest], *, lock_rows: bool
) -> list[Outcome]:
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
    session_ids = sorted({r.session_id for r in requests})
    found = (
        _locked_heads(conn, session_ids)
        if lock_rows
        else conn.execute(_HEADS, {"ids": session_ids}).all()
    )
    heads = _heads(found, session_ids, lambda missing: conn.execute(_SESSIONS, {"ids": missing}))
    outcomes, stored = _allocate_all(requests, heads)
    touched = _touched(heads)
    if touched:
        conn.execute(_MOVE_SEQ, [{"id_": h.branch_id, "last_seq_": h.last_seq} for _, h in touched])
        conn.execute(
            _MOVE_COUNTERS,
            [dict(zip(_COUNTER_KEYS, _counters(sid, h), strict=True)) for sid, h in touched],
        )
    if stored:
        conn.execute(_INSERT, [message_values(m) for m in stored])
    terms = _blind_rows(requests, outcomes)
    if terms:
        conn.execute(_INSERT_TERMS, [dict(zip(_TERM_KEYS, row, strict=True)) for row in terms])
    return outcomes


_INSERT_TERMS = blind_index.insert()
_TERM_KEYS = ("session_id", "key_version", "term", "message_id")


def _blind_rows(
    requests: Sequence[AppendRequest], outcomes: Sequence[Outcome]
) -> list[tuple[str, int, str, str]]:
    """The blind-index rows of the requests whose messages are stored (new ids: no clash)."""
    return [
        (entry.session_id, entry.version, term, entry.message_id)
        for request, outcome in zip(requests, outcomes, strict=True)
        if isinstance(outcome, list) and outcome
        for entry in request.blind_terms
        for term in entry.terms
    ]


# The same statements for the driver: compiled once, with SQLite's positional marks.
# The two look-ups take a list of ids, which a compiled statement cannot expand.
_SQLITE_HEADS = (
    "SELECT sessions.id, sessions.head_branch_id, branches.last_seq, sessions.status, "
    "own.created_at, fork.created_at "
    "FROM sessions JOIN branches ON branches.id = sessions.head_branch_id "
    "LEFT OUTER JOIN messages AS own "
    "ON own.branch_id = branches.id AND own.seq = branches.last_seq "
    "LEFT OUTER JOIN messages AS fork "
    "ON fork.branch_id = branches.parent_id AND fork.seq = branches.fork_seq "
    "WHERE sessions.id IN ({marks})"
)
_SQLITE_SESSIONS = "SELECT id FROM sessions WHERE id IN ({marks})"
_MAX_SQLITE_VARIABLES = 900


def _compiled(statement: sa.UpdateBase, order: Sequence[str]) -> str:
    compiled = statement.compile(dialect=SQLITE_DIALECT)
    if list(compiled.positiontup or ()) != list(order):
        raise AssertionError(f"parameters {compiled.positiontup} are not in the order {order}")
    return str(compiled)


_SQLITE_MOVE_SEQ = _compiled(_MOVE_SEQ, ["last_seq_", "id_"])
_SQLITE_MOVE_COUNTERS = _compiled(_MOVE_COUNTERS, _COUNTER_KEYS)
_SQLITE_INSERT = _compiled(_INSERT, [column.key for column in MESSAGE_COLUMNS])
_SQLITE_INSERT_TERMS = _compiled(_INSERT_TERMS, _TERM_KEYS)


def append_batch_sqlite(db: sqlite3.Connection, requests: Sequence[AppendRequest]) -> list[Outcome]:
    """:func:`append_batch` on a ``sqlite3`` connection inside a write transaction.

    SQLite's ``BEGIN IMMEDIATE`` already excludes every other writer: no row locks.
    Values are formatted as the column types format them (:mod:`core.storage.sql.rows`).
    """
    try:
        return _append_batch_sqlite(db, requests)
    except sqlite3.IntegrityError as exc:
        raise ConflictError(f"cannot append: {exc}") from exc
    except sqlite3.Error as exc:
        raise StorageError(f"cannot append: {exc}") from exc


def _append_batch_sqlite(
    db: sqlite3.Connection, requests: Sequence[AppendRequest]
) -> list[Outcome]:
    session_ids = sorted({r.session_id for r in requests})
    heads = _heads(
        [
            (*row[:4], *map(_sqlite_time, row[4:]))
            for row in _sqlite_in(db, _SQLITE_HEADS, session_ids)
        ],
        session_ids,
        lambda missing: _sqlite_in(db, _SQLITE_SESSIONS, missing),
    )
    outcomes, stored = _allocate_all(requests, heads)
    times = BatchTimes()
    touched = _touched(heads)
    if touched:
        db.executemany(_SQLITE_MOVE_SEQ, [(h.last_seq, h.branch_id) for _, h in touched])
        db.executemany(
            _SQLITE_MOVE_COUNTERS,
            [_counters(sid, h, times) for sid, h in touched],
        )
    if stored:
        db.executemany(_SQLITE_INSERT, [message_params(m, SQLITE_JSON, times) for m in stored])
    terms = _blind_rows(requests, outcomes)
    if terms:
        db.executemany(_SQLITE_INSERT_TERMS, terms)
    return outcomes


def _sqlite_time(text: str | None) -> datetime | None:
    """A time as the driver reads it from a :class:`UtcDateTime` column (naive UTC text)."""
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _sqlite_in(db: sqlite3.Connection, sql: str, ids: Sequence[str]) -> list[Any]:
    """Rows of ``sql`` for ``ids``, in chunks SQLite's variable limit allows."""
    rows: list[Any] = []
    for first in range(0, len(ids), _MAX_SQLITE_VARIABLES):
        chunk = ids[first : first + _MAX_SQLITE_VARIABLES]
        rows += db.execute(sql.format(marks=",".join("?" * len(chunk))), chunk).fetchall()
    return rows


def _heads(
    found: Iterable[Sequence[Any]],
    session_ids: Sequence[str],
    existing: Callable[[list[str]], Iterable[Sequence[Any]]],
) -> dict[str, _Head | Exception]:
    """Each existing session's head; a session without its head branch is an error.

    Args:
        found: rows of (session id, head branch id, last seq, status, then the
            times the next message must come after).
        session_ids: every session the batch appends to.
        existing: given the ids not found, returns rows of those that exist.
    """
    heads: dict[str, _Head | Exception] = {
        session_id: _Head(head_id, int(last_seq), status == _ACTIVE, tuple(newest))
        for session_id, head_id, last_seq, status, *newest in found
    }
    missing = [session_id for session_id in session_ids if session_id not in heads]
    if missing:
        for (session_id,) in existing(missing):
            heads[session_id] = StorageError(f"head branch of session {session_id} is missing")
    return heads


def _allocate_all(
    requests: Sequence[AppendRequest], heads: dict[str, _Head | Exception]
) -> tuple[list[Outcome], list[Message]]:
    """Each request's outcome, and every message to insert, in submission order."""
    outcomes: list[Outcome] = []
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


def _allocate(request: AppendRequest, head: _Head) -> list[Message]:
    """Give the request's messages the next seqs of ``head`` and move its counters."""
    first = head.last_seq + 1
    times = message_times(request.at, head.newest, len(request.messages))
    stored = [
        Message(
            id=message_id,
            session_id=request.session_id,
            branch_id=head.branch_id,
            seq=seq,
            role=new.role,
            author=new.author,
            content=new.content,
            created_at=at,
            metadata=dict(new.metadata),
            tokens_in=new.tokens_in,
            tokens_out=new.tokens_out,
        )
        for seq, new, message_id, at in zip(
            range(first, first + len(request.messages)),
            request.messages,
            request.ids,
            times,
            strict=True,
        )
    ]
    head.last_seq += len(stored)
    head.tokens_in += sum(m.tokens_in for m in stored)
    head.tokens_out += sum(m.tokens_out for m in stored)
    if stored:
        # Two appends to one session in the batch: the second comes after the first.
        head.newest = (stored[-1].created_at,)
        head.updated_at = stored[-1].created_at
    user_times = [m.created_at for m in stored if m.role is Role.USER]
    if user_times:
        head.last_activity_at = user_times[-1]
    head.touched = True
    return stored


def _touched(heads: dict[str, _Head | Exception]) -> list[tuple[str, _Head]]:
    return [(sid, h) for sid, h in heads.items() if isinstance(h, _Head) and h.touched]


def _counters(session_id: str, head: _Head, time: Processor = as_is) -> tuple[Any, ...]:
    """The counter update's parameters, in :data:`_COUNTER_KEYS` order."""
    return (
        head.last_seq,
        head.tokens_in,
        head.tokens_out,
        time(head.updated_at),
        time(head.last_activity_at),
        session_id,
    )
