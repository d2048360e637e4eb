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
    # Columns are only added: on SQLite any other change copies the table, and dropping
    # the old `users` would cascade to its tokens and extensions (foreign_keys is on).
    op.add_column("users", sa.Column("role", sa.String(8), nullable=False,
                                     server_default="user"))
    op.execute(sa.text("UPDATE users SET role = 'admin'"))
    op.add_column("api_tokens", sa.Column("family_id", sa.BigInteger(), nullable=True))
    op.create_index("ix_api_tokens_family_id", "api_tokens", ["family_id"])


def downgrade() -> None:
    op.drop_index("ix_api_tokens_family_id", "api_tokens")
    op.drop_column("api_tokens", "family_id")
    op.drop_column("users", "role")
