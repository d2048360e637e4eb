"""dispatch: per-tenant settings, the delivery log/outbox, invite snapshots on calls

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 16:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dispatch_snapshot", sa.JSON(), nullable=True))
    op.create_table(
        "dispatch_settings",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("base_url", sa.String(length=512), nullable=False),
        sa.Column("company_in_path", sa.Boolean(), nullable=False),
        sa.Column("company_in_query", sa.Boolean(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("invite_timeout_ms", sa.Integer(), nullable=False),
        sa.Column("ringing_timeout_ms", sa.Integer(), nullable=False),
        sa.Column("delivery_timeout_ms", sa.Integer(), nullable=False),
        sa.Column("retry_seconds", sa.Integer(), nullable=False),
        sa.Column("signing_secret", sa.String(length=128), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "dispatch_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("call_id", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("body", sa.String(length=8192), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("answer", sa.String(length=2048), nullable=True),
        sa.Column("location", sa.String(length=512), nullable=True),
        sa.Column("error", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("give_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id"),
    )
    with op.batch_alter_table("dispatch_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dispatch_deliveries_tenant_id"), ["tenant_id"])
        batch_op.create_index(batch_op.f("ix_dispatch_deliveries_call_id"), ["call_id"])
        batch_op.create_index("ix_dispatch_deliveries_pending", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("dispatch_deliveries")
    op.drop_table("dispatch_settings")
    with op.batch_alter_table("call_records", schema=None) as batch_op:
        batch_op.drop_column("dispatch_snapshot")
