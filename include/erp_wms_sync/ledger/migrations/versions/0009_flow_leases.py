"""flow leases: one writer per flow and integration, also when a backfill run overlaps a scheduled one

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flow_leases",
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("flow", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=250), nullable=True),
        sa.Column("acquired_at", sa.DateTime(), nullable=True),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("integration", "flow"),
    )


def downgrade() -> None:
    op.drop_table("flow_leases")
