"""The one mapping between the core's values and the rows of :mod:`core.storage.sql.schema`.

Every path that writes or reads a row goes through here: SQLAlchemy statements (dicts
of column values; the column types format them), and the SQLite append path, which
runs on the ``sqlite3`` driver itself (:mod:`core.storage.sql.append`) and so formats
its parameters with the bind processors SQLAlchemy would apply, taken from the same
column types (:data:`SQLITE_JSON`, :data:`SQLITE_TIME`), never a copy of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from core.api_keys import ApiKey
from core.models import (
    ArchiveReason,
    Branch,
    ChannelSettings,
    Checkpoint,
    Message,
    Role,
    Session,
    SessionStatus,
)
from core.storage.keyring import KeyringEntry
from core.storage.sql.schema import JsonText, UtcDateTime, messages

# -- sessions -------------------------------------------------------------------


def session_values(session: Session) -> dict[str, Any]:
    """Return the ``sessions`` row of a session."""
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


def session_from_row(row: Mapping[Any, Any]) -> Session:
    """Return the session a ``sessions`` row holds (the only place a stored one is built)."""
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


# -- branches -------------------------------------------------------------------


def branch_values(branch: Branch) -> dict[str, Any]:
    """Return the ``branches`` row of a branch."""
    return {
        "id": branch.id,
        "session_id": branch.session_id,
        "parent_id": branch.parent_id,
        "fork_seq": branch.fork_seq,
        "last_seq": branch.last_seq,
        "created_at": branch.created_at,
    }


def branch_from_row(row: Mapping[Any, Any]) -> Branch:
    """Return the branch a ``branches`` row holds."""
    return Branch(
        id=row["id"],
        session_id=row["session_id"],
        parent_id=row["parent_id"],
        fork_seq=row["fork_seq"],
        last_seq=row["last_seq"],
        created_at=row["created_at"],
    )


# -- messages -------------------------------------------------------------------

MESSAGE_COLUMNS = tuple(
    messages.c[name]
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
"""The order of :func:`message_params` and of the rows :func:`message_from_row` reads."""

_MESSAGE_KEYS = tuple(column.key for column in MESSAGE_COLUMNS)

Processor = Callable[[Any], Any]
"""Formats one value for the driver, or leaves it as it is."""


def as_is(value: Any) -> Any:
    """The :data:`Processor` that leaves a value as it is (SQLAlchemy formats it)."""
    return value


def message_params(
    message: Message, json: Processor = as_is, time: Processor = as_is
) -> tuple[Any, ...]:
    """Return the ``messages`` row of a message, in :data:`MESSAGE_COLUMNS` order.

    Args:
        message: the message.
        json: formats the metadata (for the driver: :data:`SQLITE_JSON`).
        time: formats the time (for the driver: a :class:`BatchTimes`).
    """
    return (
        message.id,
        message.session_id,
        message.branch_id,
        message.seq,
        message.role.value,
        message.author,
        message.content,
        json(message.metadata),
        message.tokens_in,
        message.tokens_out,
        time(message.created_at),
    )


def message_values(message: Message) -> dict[str, Any]:
    """Return the ``messages`` row of a message, by column name."""
    return dict(zip(_MESSAGE_KEYS, message_params(message), strict=True))


_ROLES = {role.value: role for role in Role}


def message_from_row(row: Sequence[Any]) -> Message:
    """Return the message a row of :data:`MESSAGE_COLUMNS` holds.

    Positional: a history read builds one message per row, and look-ups by name
    cost more than the rest of the row's handling.
    """
    return Message(
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


# -- checkpoints, keys, channel settings ----------------------------------------


def checkpoint_values(checkpoint: Checkpoint) -> dict[str, Any]:
    """Return the ``checkpoints`` row of a checkpoint."""
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


def checkpoint_from_row(row: Mapping[Any, Any]) -> Checkpoint:
    """Return the checkpoint a ``checkpoints`` row holds."""
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


def keyring_values(entry: KeyringEntry) -> dict[str, Any]:
    """Return the ``keyring`` row of an entry."""
    return {
        "name": entry.name,
        "value": entry.value,
        "version": entry.version,
        "next_value": entry.next_value,
        "next_version": entry.next_version,
    }


def keyring_from_row(row: Mapping[Any, Any]) -> KeyringEntry:
    """Return the entry a ``keyring`` row holds (drivers may give ``memoryview``)."""
    return KeyringEntry(
        name=row["name"],
        value=bytes(row["value"]),
        version=row["version"],
        next_value=None if row["next_value"] is None else bytes(row["next_value"]),
        next_version=row["next_version"],
    )


def api_key_values(key: ApiKey) -> dict[str, Any]:
    """Return the ``api_keys`` row of a key."""
    return {
        "id": key.id,
        "secret_hash": key.secret_hash,
        "user_id": key.user_id,
        "admin": key.admin,
        "name": key.name,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def api_key_from_row(row: Mapping[Any, Any]) -> ApiKey:
    """Return the key an ``api_keys`` row holds."""
    return ApiKey(
        id=row["id"],
        secret_hash=row["secret_hash"],
        user_id=row["user_id"],
        admin=bool(row["admin"]),
        name=row["name"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def settings_values(settings: ChannelSettings) -> dict[str, Any]:
    """Return the ``channel_settings`` row of a channel's settings."""
    return {
        "channel_key": settings.channel_key,
        "scope": settings.scope,
        "daily_reset_time": settings.daily_reset_time,
        "idle_reset_minutes": settings.idle_reset_minutes,
        "timezone": settings.timezone,
        "context_strategy": settings.context_strategy,
        "updated_at": settings.updated_at,
    }


def settings_from_row(row: Mapping[Any, Any]) -> ChannelSettings:
    """Return the settings a ``channel_settings`` row holds."""
    return ChannelSettings(
        channel_key=row["channel_key"],
        updated_at=row["updated_at"],
        scope=row["scope"],
        daily_reset_time=row["daily_reset_time"],
        idle_reset_minutes=row["idle_reset_minutes"],
        timezone=row["timezone"],
        context_strategy=row["context_strategy"],
    )


# -- values for the sqlite3 driver ----------------------------------------------

SQLITE_DIALECT = sqlite.dialect(paramstyle="qmark")
"""The dialect the SQLite append path's statements are compiled for."""


def sqlite_processor(type_: sa.types.TypeEngine[Any]) -> Processor:
    """Return what SQLAlchemy does to a value of ``type_`` before handing it to ``sqlite3``."""
    processor: Processor | None = type_.dialect_impl(SQLITE_DIALECT).bind_processor(SQLITE_DIALECT)
    return processor or as_is


SQLITE_JSON = sqlite_processor(JsonText())
""":class:`~core.storage.sql.schema.JsonText` values as SQLAlchemy hands them to ``sqlite3``."""
SQLITE_TIME = sqlite_processor(UtcDateTime())
""":class:`~core.storage.sql.schema.UtcDateTime` values as SQLAlchemy hands them to ``sqlite3``."""


class BatchTimes:
    """Formats times for ``sqlite3`` as :data:`SQLITE_TIME` does, each distinct one once.

    A batch's messages and its sessions' counters share one time per request.
    """

    __slots__ = ("_texts",)

    def __init__(self) -> None:
        self._texts: dict[datetime | None, Any] = {None: None}

    def __call__(self, value: datetime | None) -> Any:
        """Return ``value`` formatted.

        Raises:
            ValueError: the time is naive (see :class:`~core.storage.sql.schema.UtcDateTime`).
        """
        text = self._texts.get(value)
        if text is None and value is not None:
            text = self._texts[value] = SQLITE_TIME(value)
        return text
