"""inventory sync: stock queue by Peoplevox History Id, stock positions, stock adjustment journal

The first ``stock_queue`` (keyed by a WMS sequence, float quantities) was never written by any flow; it is
replaced by one keyed by Peoplevox's History Id. Downgrade restores the first shape, empty.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def upgrade() -> None:
    op.drop_index("ix_stock_queue_pending", table_name="stock_queue")
    op.drop_table("stock_queue")
    op.create_table(
        "stock_queue",
        _id(),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("history_id", sa.BigInteger(), nullable=False),
        sa.Column("item_code", sa.String(length=128), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("from_location", sa.String(length=128), nullable=False),
        sa.Column("to_location", sa.String(length=128), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("counted_delta", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sales_order", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=128), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("adjustment_ref", sa.String(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_queue")),
        sa.UniqueConstraint("integration", "history_id", name="uq_stock_queue_history"),
    )
    op.create_index("ix_stock_queue_state", "stock_queue", ["integration", "state"])
    op.create_index("ix_stock_queue_item", "stock_queue", ["integration", "item_code", "site"])
    op.create_table(
        "stock_positions",
        _id(),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("item_code", sa.String(length=128), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("last_history_id", sa.BigInteger(), nullable=False),
        sa.Column("wms_counted", sa.Integer(), nullable=False),
        sa.Column("erp_sku", sa.String(length=128), nullable=False),
        sa.Column("erp_location", sa.String(length=128), nullable=False),
        sa.Column("erp_quantity", sa.Integer(), nullable=True),
        sa.Column("adjustment_ref", sa.String(length=128), nullable=True),
        sa.Column("opened_history_id", sa.BigInteger(), nullable=True),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_positions")),
        sa.UniqueConstraint("integration", "item_code", "site", name="uq_stock_positions_pair"),
    )
    op.create_table(
        "stock_adjustments",
        _id(),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("reference", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("erp_task_id", sa.String(length=128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_adjustments")),
        sa.UniqueConstraint("integration", "reference", name="uq_stock_adjustments_reference"),
    )
    op.create_index("ix_stock_adjustments_state", "stock_adjustments", ["integration", "state"])


def downgrade() -> None:
    op.drop_index("ix_stock_adjustments_state", table_name="stock_adjustments")
    op.drop_table("stock_adjustments")
    op.drop_table("stock_positions")
    op.drop_index("ix_stock_queue_item", table_name="stock_queue")
    op.drop_index("ix_stock_queue_state", table_name="stock_queue")
    op.drop_table("stock_queue")
    op.create_table(
        "stock_queue",
        _id(),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("wms_sequence", sa.BigInteger(), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("movement_type", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("applied_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_queue")),
        sa.UniqueConstraint("integration", "wms_sequence", name="uq_stock_queue_sequence"),
    )
    op.create_index("ix_stock_queue_pending", "stock_queue",
                    ["integration", "status", "sku", "location", "wms_sequence"])
