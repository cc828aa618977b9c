"""dashboard: the record of people's actions; indexes for filtering exceptions and looking orders up at scale

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_actions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("user", sa.String(length=128), nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=500), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("dashboard_actions") as batch:
        batch.create_index("ix_dashboard_actions_at", ["at"], unique=False)
        batch.create_index("ix_dashboard_actions_target", ["target_type", "target_id"], unique=False)
    with op.batch_alter_table("exceptions") as batch:
        batch.create_index("ix_exceptions_owner", ["status", "owner"], unique=False)
        batch.create_index("ix_exceptions_seen", ["status", "first_seen"], unique=False)
        batch.create_index("ix_exceptions_entity", ["integration", "entity_key"], unique=False)
    with op.batch_alter_table("order_records") as batch:
        batch.create_index("ix_order_records_number", ["integration", "erp_order_number"], unique=False)
    with op.batch_alter_table("despatches") as batch:
        batch.create_index("ix_despatches_erp_order", ["integration", "erp_order_id"], unique=False)
    with op.batch_alter_table("returns") as batch:
        batch.create_index("ix_returns_erp_order", ["integration", "erp_order_id"], unique=False)


def downgrade() -> None:
    for table, index in (("returns", "ix_returns_erp_order"), ("despatches", "ix_despatches_erp_order"),
                         ("order_records", "ix_order_records_number")):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(index)
    with op.batch_alter_table("exceptions") as batch:
        batch.drop_index("ix_exceptions_entity")
        batch.drop_index("ix_exceptions_seen")
        batch.drop_index("ix_exceptions_owner")
    op.drop_table("dashboard_actions")
