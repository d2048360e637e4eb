"""hunt memory: when each member of each ring group last rang and last answered

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hunt_stats",
        sa.Column("ring_group_id", sa.BigInteger(), nullable=False),
        sa.Column("extension_id", sa.BigInteger(), nullable=False),
        sa.Column("last_rung_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ring_group_id"], ["ring_groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["extension_id"], ["extensions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("ring_group_id", "extension_id"),
    )


def downgrade() -> None:
    op.drop_table("hunt_stats")
