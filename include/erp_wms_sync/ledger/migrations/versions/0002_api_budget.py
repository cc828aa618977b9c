"""api budget: one shared call budget per vendor API key

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_budgets",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("calls", sa.JSON(), nullable=False),
        sa.Column("waiters", sa.JSON(), nullable=False),
        sa.Column("blocked_until", sa.Float(), nullable=False),
        sa.Column("blocked_by", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("system", "key_hash", name=op.f("pk_api_budgets")),
    )


def downgrade() -> None:
    op.drop_table("api_budgets")
