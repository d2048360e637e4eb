"""ringouts: two-leg click-to-call attempts and their statuses

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ringouts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("extension_id", sa.BigInteger(), nullable=False),
        sa.Column("from_number", sa.String(length=64), nullable=False),
        sa.Column("to_number", sa.String(length=64), nullable=False),
        sa.Column("caller_id", sa.String(length=64), nullable=False),
        sa.Column("play_prompt", sa.Boolean(), nullable=False),
        sa.Column("call_status", sa.String(length=24), nullable=False),
        sa.Column("caller_status", sa.String(length=24), nullable=False),
        sa.Column("callee_status", sa.String(length=24), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["extension_id"], ["extensions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("ringouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ringouts_tenant_id"), ["tenant_id"])
        batch_op.create_index(batch_op.f("ix_ringouts_extension_id"), ["extension_id"])
        batch_op.create_index(batch_op.f("ix_ringouts_ended_at"), ["ended_at"])


def downgrade() -> None:
    op.drop_table("ringouts")
