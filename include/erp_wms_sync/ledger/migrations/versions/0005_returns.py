"""returns: one row per returned line (return code x item code) and the return authorisations announced

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-17
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "returns",
        _id(),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("return_code", sa.String(length=64), nullable=False),
        sa.Column("item_code", sa.String(length=128), nullable=False),
        sa.Column("sales_order", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("condition", sa.String(length=64), nullable=False),
        sa.Column("sellable", sa.Boolean(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=128), nullable=False),
        sa.Column("returned_at", sa.DateTime(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("erp_order_id", sa.String(length=128), nullable=True),
        sa.Column("ra_number", sa.String(length=64), nullable=True),
        sa.Column("history_ids", sa.JSON(), nullable=True),
        sa.Column("erp_ref", sa.String(length=128), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_returns")),
        sa.UniqueConstraint("integration", "return_code", "item_code", name="uq_returns_line"),
    )
    op.create_index("ix_returns_state", "returns", ["integration", "state"])
    op.create_index("ix_returns_order", "returns", ["integration", "sales_order"])
    op.create_table(
        "return_authorisations",
        _id(),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("ra_number", sa.String(length=64), nullable=False),
        sa.Column("erp_order_number", sa.String(length=64), nullable=False),
        sa.Column("wms_order_number", sa.String(length=64), nullable=True),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=True),
        sa.Column("announced_at", sa.DateTime(), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_return_authorisations")),
        sa.UniqueConstraint("integration", "ra_number", name="uq_return_authorisations_ra"),
    )
    op.create_index("ix_return_authorisations_order", "return_authorisations", ["integration", "wms_order_number"])


def downgrade() -> None:
    op.drop_index("ix_return_authorisations_order", table_name="return_authorisations")
    op.drop_table("return_authorisations")
    op.drop_index("ix_returns_order", table_name="returns")
    op.drop_index("ix_returns_state", table_name="returns")
    op.drop_table("returns")
