"""api_tokens.last_used_at: when a token last authenticated a request (to the minute),
for `ringbridge tokens list`

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 20:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as table:
        table.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as table:
        table.drop_column("last_used_at")
