"""JWT credentials (the JWT bearer grant): jwt_signing_keys, one key per tenant, and
jwt_credentials, the credentials issued (the JWTs themselves are not stored)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 09:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jwt_signing_keys",
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "jwt_credentials",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_jwt_credentials_tenant_id", "jwt_credentials", ["tenant_id"])
    op.create_index("ix_jwt_credentials_user_id", "jwt_credentials", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_jwt_credentials_user_id", "jwt_credentials")
    op.drop_index("ix_jwt_credentials_tenant_id", "jwt_credentials")
    op.drop_table("jwt_credentials")
    op.drop_table("jwt_signing_keys")
