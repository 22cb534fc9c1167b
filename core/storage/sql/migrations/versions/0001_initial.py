"""Initial schema: sessions, branches, messages, checkpoints, channel settings, keyring.

Revision ID: 0001
Revises:
Create Date: 2026-05-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.String(64)
# Times: TIMESTAMP WITH TIME ZONE on PostgreSQL, naive UTC text on SQLite
# (core.storage.sql.schema.UtcDateTime converts both ways).
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("scope_key", sa.String, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("owner", sa.String, nullable=False),
        sa.Column("platform", sa.String, nullable=False),
        sa.Column("channel_id", sa.String, nullable=False),
        sa.Column("head_branch_id", ID, nullable=False),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.Column("title", sa.String, nullable=True),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("tokens_in", sa.BigInteger, nullable=False),
        sa.Column("tokens_out", sa.BigInteger, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        sa.Column("last_activity_at", TIME, nullable=False),
        sa.Column("archived_at", TIME, nullable=True),
        sa.Column("archive_reason", sa.String(16), nullable=True),
        sa.Column("channel_key", sa.String, nullable=False),
        sa.Column("resumed_at", TIME, nullable=True),
        sa.Column("is_direct", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    active = sa.text("status = 'active'")
    op.create_index(
        "ux_sessions_active_scope_key",
        "sessions",
        ["scope_key"],
        unique=True,
        sqlite_where=active,
        postgresql_where=active,
    )
    op.create_index("ix_sessions_created_at_id", "sessions", ["created_at", "id"])
    op.create_index("ix_sessions_status_archived_at", "sessions", ["status", "archived_at"])
    op.create_index(
        "ix_sessions_status_last_activity_at", "sessions", ["status", "last_activity_at"]
    )
    op.create_index("ix_sessions_platform_channel_id", "sessions", ["platform", "channel_id"])
    op.create_index("ix_sessions_scope_key_created_at", "sessions", ["scope_key", "created_at"])

    op.create_table(
        "branches",
        sa.Column("id", ID, nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("parent_id", ID, nullable=True),
        sa.Column("fork_seq", sa.Integer, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_branches"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_branches_session_id_sessions"
        ),
    )
    op.create_index("ix_branches_parent_id", "branches", ["parent_id"])
    op.create_index("ix_branches_session_id", "branches", ["session_id"])

    op.create_table(
        "messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("branch_id", ID, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("author", sa.String, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("metadata", sa.Text, nullable=False),
        sa.Column("tokens_in", sa.Integer, nullable=False),
        sa.Column("tokens_out", sa.Integer, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name="fk_messages_branch_id_branches"
        ),
    )
    op.create_index("ux_messages_branch_id_seq", "messages", ["branch_id", "seq"], unique=True)

    op.create_table(
        "checkpoints",
        sa.Column("id", ID, nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("branch_id", ID, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("description", sa.String, nullable=False),
        sa.Column("auto", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_checkpoints"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_checkpoints_session_id_sessions"
        ),
    )
    op.create_index("ix_checkpoints_session_id", "checkpoints", ["session_id"])

    op.create_table(
        "channel_settings",
        sa.Column("channel_key", sa.String, nullable=False),
        sa.Column("scope", sa.String, nullable=True),
        sa.Column("daily_reset_time", sa.String(8), nullable=True),
        sa.Column("idle_reset_minutes", sa.Integer, nullable=True),
        sa.Column("timezone", sa.String, nullable=True),
        sa.Column("updated_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("channel_key", name="pk_channel_settings"),
    )

    op.create_table(
        "keyring",
        # Byte order on PostgreSQL, like SQLite's BINARY: keyring pages are keyset.
        sa.Column(
            "name",
            sa.String().with_variant(sa.String(collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("next_value", sa.LargeBinary, nullable=True),
        sa.Column("next_version", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_keyring"),
    )


def downgrade() -> None:
    op.drop_table("keyring")
    op.drop_table("channel_settings")
    op.drop_table("checkpoints")
    op.drop_table("messages")
    op.drop_table("branches")
    op.drop_table("sessions")
