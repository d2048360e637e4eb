"""extensions.paused_at and pause_reason: a paused extension is rung by no ring group
until it is resumed (agent availability)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("extensions") as table:
        table.add_column(sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True))
        table.add_column(sa.Column("pause_reason", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("extensions") as table:
        table.drop_column("pause_reason")
        table.drop_column("paused_at")
