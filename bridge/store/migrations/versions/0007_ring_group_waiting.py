"""ring_groups.max_wait_time: how long a call may wait for a free member

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ring_groups") as batch:
        batch.add_column(sa.Column("max_wait_time", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("ring_groups") as batch:
        batch.drop_column("max_wait_time")
