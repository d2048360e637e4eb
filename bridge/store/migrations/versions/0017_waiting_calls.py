"""waiting_calls: ring groups' waiting lines shared by the engines of one Asterisk

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "waiting_calls",
        sa.Column("call_id", sa.String(length=32), primary_key=True),
        sa.Column("ring_group_id", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("asterisk", sa.String(length=256), nullable=False),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["ring_group_id"], ["ring_groups.id"], ondelete="CASCADE"),
    )
    op.create_index("ix_waiting_calls_ring_group_id", "waiting_calls", ["ring_group_id"])
    op.create_index("ix_waiting_calls_engine", "waiting_calls", ["engine"])


def downgrade() -> None:
    op.drop_index("ix_waiting_calls_engine", table_name="waiting_calls")
    op.drop_index("ix_waiting_calls_ring_group_id", table_name="waiting_calls")
    op.drop_table("waiting_calls")
