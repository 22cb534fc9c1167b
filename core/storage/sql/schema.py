"""The SQL schema of :class:`core.storage.sql.store.SqlStore`, as SQLAlchemy Core tables.

The Alembic migrations in ``core/storage/sql/migrations/versions`` create exactly this schema;
``tests/core/test_storage.py`` fails when the two drift apart.

Times are stored as ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL and as naive UTC text
on SQLite (sortable, so ``ORDER BY`` and range filters work); :class:`UtcDateTime`
makes both come back as aware UTC datetimes. Tags and metadata are JSON text, so both
backends store them the same way.

Nothing here knows about encryption: :class:`core.crypto.sealing.SealedStore` hands
this backend sealed text in the same columns, and keeps its keys in ``keyring``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from core.jsontext import json_text, parse_json_text

SCHEMA_REVISION = "0010_delivery_worker"
"""The newest Alembic revision in ``core/storage/sql/migrations/versions``; a test keeps them equal.

:meth:`core.storage.sql.store.SqlStore.open` compares the database's revision with it, so
that Alembic is loaded only when a migration has to run.
"""

ID = sa.String(64)
"""Column type of every id (ids from :func:`core.ids.new_id` are at most 32 characters)."""


class UtcDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime on every backend.

    Naive datetimes are refused: a silent guess about their zone would shift reset
    times by hours.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; strip the zone where the backend cannot store one."""
        if value is None:
            return None
        value = _utc(value)
        # SQLite's DATETIME text has no offset: everything stored there is UTC.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, :func:`sqlite_time_text` in one step; elsewhere SQLAlchemy's own.

        The text is the one SQLAlchemy's SQLite ``DATETIME`` writes after
        :meth:`process_bind_param`; its ``%`` formatting took twice as long, on every
        message stored (``tests/core/test_sql_rows.py`` compares the two).
        """
        if dialect.name == "sqlite":
            return sqlite_time_text
        return super().bind_processor(dialect)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def sqlite_time_text(value: datetime | None) -> str | None:
    """A time as :class:`UtcDateTime` stores it on SQLite: naive UTC text, to the microsecond.

    Raises:
        ValueError: the time is naive.
    """
    if value is None:
        return None
    return _utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} given to the store")
    return value.astimezone(UTC)


class JsonText(sa.TypeDecorator[Any]):
    """A JSON-compatible value stored as text."""

    impl = sa.Text()
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        """Serialise to compact JSON, keeping non-ASCII text readable."""
        if value is None:
            return None
        return json_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        """Parse the stored JSON."""
        if value == "{}":  # most messages' metadata: no parser needed
            return {}
        return None if value is None else parse_json_text(value)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)
"""The metadata holding every table of the store."""

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("scope_key", sa.String, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("owner", sa.String, nullable=False),
    sa.Column("platform", sa.String, nullable=False),
    sa.Column("channel_id", sa.String, nullable=False),
    # No foreign key: the session row is inserted before its first branch.
    sa.Column("head_branch_id", ID, nullable=False),
    sa.Column("message_count", sa.Integer, nullable=False),
    sa.Column("title", sa.String, nullable=True),
    sa.Column("tags", JsonText, nullable=False),
    sa.Column("metadata", JsonText, nullable=False),
    sa.Column("tokens_in", sa.BigInteger, nullable=False),
    sa.Column("tokens_out", sa.BigInteger, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("last_activity_at", UtcDateTime, nullable=False),
    sa.Column("archived_at", UtcDateTime, nullable=True),
    sa.Column("archive_reason", sa.String(16), nullable=True),
    sa.Column("channel_key", sa.String, nullable=False),
    sa.Column("resumed_at", UtcDateTime, nullable=True),
    sa.Column("is_direct", sa.Boolean, nullable=False),
)
"""One row per session."""

sa.Index(
    "ux_sessions_active_scope_key",
    sessions.c.scope_key,
    unique=True,
    sqlite_where=sessions.c.status == "active",
    postgresql_where=sessions.c.status == "active",
)
sa.Index("ix_sessions_created_at_id", sessions.c.created_at, sessions.c.id)
sa.Index("ix_sessions_status_archived_at", sessions.c.status, sessions.c.archived_at)
# The console lists sessions by last activity, newest first, a page at a time.
sa.Index("ix_sessions_last_activity_at_id", sessions.c.last_activity_at, sessions.c.id)
# The idle sweep: `WHERE status = 'active' AND last_activity_at <= :cutoff`.
sa.Index("ix_sessions_status_last_activity_at", sessions.c.status, sessions.c.last_activity_at)
sa.Index("ix_sessions_platform_channel_id", sessions.c.platform, sessions.c.channel_id)
# `/session list` pages one scope key's sessions, archived ones included, which the
# partial index above does not cover.
sa.Index("ix_sessions_scope_key_created_at", sessions.c.scope_key, sessions.c.created_at)
# A search of everything one person may see starts from the sessions they started.
sa.Index("ix_sessions_owner_created_at", sessions.c.owner, sessions.c.created_at)

branches = sa.Table(
    "branches",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("session_id", ID, sa.ForeignKey("sessions.id"), nullable=False),
    # No foreign key: a parent may belong to another session, and deleting that
    # session detaches its dependants first (SessionManager.delete).
    sa.Column("parent_id", ID, nullable=True),
    sa.Column("fork_seq", sa.Integer, nullable=False),
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)
"""One row per branch; ``last_seq`` is the seq counter :meth:`append_messages` moves."""

sa.Index("ix_branches_parent_id", branches.c.parent_id)
# Deleting a session finds its branches by session, and the foreign key above makes
# PostgreSQL look them up on every session delete.
sa.Index("ix_branches_session_id", branches.c.session_id)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", ID, primary_key=True),
    # Denormalised from the branch, without a foreign key: the branch's own key
    # already ties the row to a session, and another key would need another index.
    sa.Column("session_id", ID, nullable=False),
    sa.Column("branch_id", ID, sa.ForeignKey("branches.id"), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("author", sa.String, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("metadata", JsonText, nullable=False),
    sa.Column("tokens_in", sa.Integer, nullable=False),
    sa.Column("tokens_out", sa.Integer, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)
"""One row per message; immutable once written."""

# Serves every history read (`WHERE branch_id = ? AND seq BETWEEN ? AND ? ORDER BY seq`).
sa.Index("ux_messages_branch_id_seq", messages.c.branch_id, messages.c.seq, unique=True)
# A search of some sessions reads their messages only, newest first (see search.py).
sa.Index("ix_messages_session_id_created_at", messages.c.session_id, messages.c.created_at)

FULL_TEXT_OBJECTS = frozenset(
    {
        "messages_fts",
        "messages_fts_config",
        "messages_fts_data",
        "messages_fts_docsize",
        "messages_fts_idx",
        "ix_messages_content_tsv",
    }
)
"""Full-text search of plain messages, made by migration ``0007_search`` and not
described here (SQLAlchemy has no FTS5 tables, and the GIN index is on an
expression): SQLite's FTS5 table with its shadow tables and triggers, PostgreSQL's
index on ``to_tsvector('simple', content)``. :mod:`core.storage.sql.search` uses them."""

blind_index = sa.Table(
    "blind_index",
    metadata,
    sa.Column("session_id", ID, primary_key=True),
    sa.Column("key_version", sa.Integer, primary_key=True),
    sa.Column("term", sa.String(32), primary_key=True),
    sa.Column("message_id", ID, primary_key=True),
    # On SQLite the key is the table: one B-tree to write per term, not two.
    sqlite_with_rowid=False,
)
"""Keyed hashes of the words of sealed messages (:mod:`core.crypto.blind_index`).

The key order answers "which messages of these sessions hold this term" from the
session's own rows, whatever else the database holds.
"""

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("session_id", ID, sa.ForeignKey("sessions.id"), nullable=False),
    sa.Column("branch_id", ID, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("description", sa.String, nullable=False),
    sa.Column("auto", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)
"""One row per checkpoint: a named ``(branch, seq)`` pointer."""

sa.Index("ix_checkpoints_session_id", checkpoints.c.session_id)

channel_settings = sa.Table(
    "channel_settings",
    metadata,
    sa.Column("channel_key", sa.String, primary_key=True),
    sa.Column("scope", sa.String, nullable=True),
    sa.Column("daily_reset_time", sa.String(8), nullable=True),
    sa.Column("idle_reset_minutes", sa.Integer, nullable=True),
    sa.Column("timezone", sa.String, nullable=True),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    sa.Column("context_strategy", sa.String(16), nullable=True),
)
"""Per-channel overrides set by admin commands."""

# Byte order ("C") on PostgreSQL, as SQLite's default BINARY, so that keyring pages
# (`name > :after ORDER BY name`) walk names in the same order on every backend.
KEYRING_NAME = sa.String().with_variant(sa.String(collation="C"), "postgresql")

keyring = sa.Table(
    "keyring",
    metadata,
    sa.Column("name", KEYRING_NAME, primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("next_value", sa.LargeBinary, nullable=True),
    sa.Column("next_version", sa.Integer, nullable=True),
)
"""Wrapped data keys (``session:<id>``) and the master key check (``check``).

Encryption itself lives in :mod:`core.crypto.sealing`: sealed text goes into the
ordinary text columns, so no table above has a column of its own for it.
"""

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("source", sa.String(32), primary_key=True),
    sa.Column("delivery_id", sa.String(128), primary_key=True),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("answer_session", ID, nullable=True),
    sa.Column("answer", sa.Text, nullable=True),
    sa.Column("worker_id", sa.String(32), nullable=True),
)
"""Platform events claimed (a Slack ``event_id``, a Telegram ``update_id``, an API
``Idempotency-Key``), so a redelivery is dropped; ``finished_at`` once handled, and
for an API request the ``answer`` a retry gets again (sealed under the key of
``answer_session`` when encryption is on); ``worker_id``: the worker handling it, so
another can take it over should that one die."""

sa.Index("ix_deliveries_received_at", deliveries.c.received_at)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("seen_at", UtcDateTime, nullable=False),
    sa.Column("roles", sa.String(255), nullable=False, server_default=""),
)
"""The ``sessionbot run`` processes serving the database: one heartbeat row each."""

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", ID, primary_key=True),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("user_id", sa.String, nullable=False),
    sa.Column("admin", sa.Boolean, nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("revoked_at", UtcDateTime, nullable=True),
)
"""Keys of the HTTP API: the SHA-256 of each secret, never the secret (:mod:`core.api_keys`)."""
