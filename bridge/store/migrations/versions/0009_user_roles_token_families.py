"""users.role (admin or user) and api_tokens.family_id (an OAuth login's tokens)

Users already there become admins: they keep reaching every extension of their tenant
under /restapi/ as before. New users are `user` unless made admins (docs/security.md).
OAuth tokens issued before this migration have no family: revoking one revokes only it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("role", sa.String(8), nullable=False,
                                   server_default="admin"))
    with op.batch_alter_table("users") as batch:
        batch.alter_column("role", existing_type=sa.String(8), existing_nullable=False,
                           server_default="user")
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("family_id", sa.BigInteger(), nullable=True))
        batch.create_index("ix_api_tokens_family_id", ["family_id"])


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_index("ix_api_tokens_family_id")
        batch.drop_column("family_id")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("role")
