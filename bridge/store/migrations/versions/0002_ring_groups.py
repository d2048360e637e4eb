"""ring groups and their members

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 14:09:23.066058
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ring_groups",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("extension_number", sa.String(length=64), nullable=False),
        sa.Column("ring_time", sa.Integer(), nullable=False),
        sa.Column("ring_strategy", sa.String(length=40), nullable=False),
        sa.Column("skip_busy_member", sa.Boolean(), nullable=False),
        sa.Column("enable_paid", sa.Boolean(), nullable=False),
        sa.Column("enable_prid", sa.Boolean(), nullable=False),
        sa.Column("extension_number_as_to_header", sa.Boolean(), nullable=False),
        sa.Column("no_answer_action", sa.String(length=32), nullable=True),
        sa.Column("no_answer_number", sa.String(length=64), nullable=True),
        sa.Column("outbound_caller_ids", sa.JSON(), nullable=False),
        sa.Column("queue_id", sa.String(length=254), nullable=True),
        sa.Column("queue_type", sa.String(length=16), nullable=True),
        sa.Column("did_numbers", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "extension_number"),
    )
    with op.batch_alter_table("ring_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ring_groups_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_ring_groups_strategy",
            ["tenant_id", "ring_strategy", "extension_number"],
            unique=False,
        )

    op.create_table(
        "ring_group_members",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ring_group_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("extension_id", sa.BigInteger(), nullable=False),
        sa.Column("skill_level", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["extension_id"], ["extensions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["ring_group_id"], ["ring_groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ring_group_id", "extension_id"),
    )
    with op.batch_alter_table("ring_group_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ring_group_members_extension_id"), ["extension_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_ring_group_members_ring_group_id"), ["ring_group_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ring_group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ring_group_members_ring_group_id"))
        batch_op.drop_index(batch_op.f("ix_ring_group_members_extension_id"))

    op.drop_table("ring_group_members")
    with op.batch_alter_table("ring_groups", schema=None) as batch_op:
        batch_op.drop_index("ix_ring_groups_strategy")
        batch_op.drop_index(batch_op.f("ix_ring_groups_tenant_id"))

    op.drop_table("ring_groups")
