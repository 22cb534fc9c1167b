"""Deliveries: when a claimed platform event was handled, so a redelivery of one still
being handled can be told to come back later.

Revision ID: 0006_delivery_finished
Revises: 0005_context
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_delivery_finished"
down_revision: str | None = "0005_context"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    # Events claimed before this revision were handled as they were claimed.
    op.execute("UPDATE deliveries SET finished_at = received_at")


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("finished_at")
