"""subscriptions (RingCentral-style WebHook subscriptions to telephony sessions), and
dispatch_deliveries.subscription_id: their notifications share the dispatch outbox

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 20:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("event_filters", sa.JSON(), nullable=False),
        sa.Column("account_level", sa.Boolean(), nullable=False),
        sa.Column("extension_ids", sa.JSON(), nullable=False),
        sa.Column("address", sa.String(length=2048), nullable=False),
        sa.Column("verification_token", sa.String(length=64), nullable=True),
        sa.Column("signing_secret", sa.String(length=64), nullable=True),
        sa.Column("lifetime", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_subscriptions_tenant_id", "subscriptions", ["tenant_id"])
    op.create_index("ix_subscriptions_user_id", "subscriptions", ["user_id"])
    op.create_index("ix_subscriptions_expires_at", "subscriptions", ["expires_at"])
    with op.batch_alter_table("dispatch_deliveries") as table:
        table.add_column(sa.Column("subscription_id", sa.BigInteger(), nullable=True))
        table.create_foreign_key("fk_dispatch_deliveries_subscription_id", "subscriptions",
                                 ["subscription_id"], ["id"], ondelete="CASCADE")
        table.create_index("ix_dispatch_deliveries_subscription_id", ["subscription_id"])


def downgrade() -> None:
    with op.batch_alter_table("dispatch_deliveries") as table:
        table.drop_index("ix_dispatch_deliveries_subscription_id")
        table.drop_constraint("fk_dispatch_deliveries_subscription_id", type_="foreignkey")
        table.drop_column("subscription_id")
    op.drop_index("ix_subscriptions_expires_at", "subscriptions")
    op.drop_index("ix_subscriptions_user_id", "subscriptions")
    op.drop_index("ix_subscriptions_tenant_id", "subscriptions")
    op.drop_table("subscriptions")
