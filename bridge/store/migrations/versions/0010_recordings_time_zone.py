"""Recordings and tenant time zones: ring_groups.record_calls, tenants.time_zone and
tenants.recording_retention_days, call_records.recording

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ring_groups") as batch:
        batch.add_column(sa.Column("record_calls", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("time_zone", sa.String(64), nullable=False,
                                   server_default="UTC"))
        batch.add_column(sa.Column("recording_retention_days", sa.Integer(), nullable=False,
                                   server_default="90"))
    with op.batch_alter_table("call_records") as batch:
        batch.add_column(sa.Column("recording", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_records") as batch:
        batch.drop_column("recording")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("recording_retention_days")
        batch.drop_column("time_zone")
    with op.batch_alter_table("ring_groups") as batch:
        batch.drop_column("record_calls")
