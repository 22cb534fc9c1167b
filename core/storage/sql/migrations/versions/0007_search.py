"""Search: full-text index of plain messages, blind index of sealed ones.

SQLite gets an FTS5 table with external content (the ``messages`` rows themselves)
and triggers that keep it in step with ``messages`` in the writing transaction;
PostgreSQL gets a GIN index on ``to_tsvector('simple', content)``. Sealed messages
(``sb:aes256gcm:…``) stay out of both: they are found through ``blind_index``, whose
rows :class:`core.crypto.sealing.SealedStore` writes. Existing messages are indexed
here, so an existing database is searchable once migrated.

Revision ID: 0007_search
Revises: 0006_delivery_finished
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_search"
down_revision: str | None = "0006_delivery_finished"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
PLAIN = "substr({row}content, 1, 13) <> 'sb:aes256gcm:'"

_SQLITE_UP = [
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "content, session_id, content='messages', content_rowid='rowid', "
    "tokenize='unicode61 remove_diacritics 0')",
    f"""CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages
    WHEN {PLAIN.format(row="new.")} BEGIN
      INSERT INTO messages_fts(rowid, content, session_id)
      VALUES (new.rowid, new.content, new.session_id);
    END""",
    f"""CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
    WHEN {PLAIN.format(row="old.")} BEGIN
      INSERT INTO messages_fts(messages_fts, rowid, content, session_id)
      VALUES ('delete', old.rowid, old.content, old.session_id);
    END""",
    f"""CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
      INSERT INTO messages_fts(messages_fts, rowid, content, session_id)
      SELECT 'delete', old.rowid, old.content, old.session_id WHERE {PLAIN.format(row="old.")};
      INSERT INTO messages_fts(rowid, content, session_id)
      SELECT new.rowid, new.content, new.session_id WHERE {PLAIN.format(row="new.")};
    END""",
    # Index what is already stored (plain rows only, as the triggers would have).
    f"""INSERT INTO messages_fts(rowid, content, session_id)
    SELECT rowid, content, session_id FROM messages WHERE {PLAIN.format(row="")}""",
]

_SQLITE_DOWN = [
    "DROP TRIGGER messages_fts_update",
    "DROP TRIGGER messages_fts_delete",
    "DROP TRIGGER messages_fts_insert",
    "DROP TABLE messages_fts",
]

_POSTGRES_UP = [
    "CREATE INDEX ix_messages_content_tsv ON messages "
    f"USING gin (to_tsvector('simple', content)) WHERE {PLAIN.format(row='')}",
]


def upgrade() -> None:
    op.create_index("ix_sessions_owner_created_at", "sessions", ["owner", "created_at"])
    op.create_index("ix_messages_session_id_created_at", "messages", ["session_id", "created_at"])
    op.create_table(
        "blind_index",
        sa.Column("session_id", ID, nullable=False),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("term", sa.String(32), nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.PrimaryKeyConstraint(
            "session_id", "key_version", "term", "message_id", name="pk_blind_index"
        ),
        sqlite_with_rowid=False,
    )
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_UP if dialect == "sqlite" else _POSTGRES_UP:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
    else:
        op.execute("DROP INDEX ix_messages_content_tsv")
    op.drop_table("blind_index")
    op.drop_index("ix_messages_session_id_created_at", table_name="messages")
    op.drop_index("ix_sessions_owner_created_at", table_name="sessions")
