"""The operator console lists sessions by last activity, newest first.

Revision ID: 0009_console
Revises: 0008_idempotency
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009_console"
down_revision: str | None = "0008_idempotency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sessions_last_activity_at_id", "sessions", ["last_activity_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_sessions_last_activity_at_id", table_name="sessions")
