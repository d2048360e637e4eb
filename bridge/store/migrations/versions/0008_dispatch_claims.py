"""dispatch_deliveries.claimed_by/claimed_until: which node sends a pending delivery

Existing rows stay unclaimed (NULL): the next node to start resumes them.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dispatch_deliveries") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dispatch_deliveries") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
