"""reconciliation: variance history per SKU x location, proposals with their approval, run look-ups

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-18
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=True))
        batch_op.create_index("ix_reconciliation_runs_date", ["integration", "business_date"], unique=False)
        batch_op.create_index("ix_reconciliation_runs_run", ["integration", "run_id"], unique=False)
    with op.batch_alter_table("reconciliation_variances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sku", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("location", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("variance", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("breach", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index("ix_reconciliation_variances_pair", ["sku", "location"], unique=False)
    op.create_table(
        "reconciliation_proposals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("run_pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("business_date", sa.String(length=10), nullable=False),
        sa.Column("sku", sa.String(length=128), nullable=False),
        sa.Column("location", sa.String(length=128), nullable=False),
        sa.Column("erp_on_hand", sa.Integer(), nullable=False),
        sa.Column("set_to", sa.Integer(), nullable=False),
        sa.Column("change", sa.Integer(), nullable=False),
        sa.Column("variance", sa.Integer(), nullable=False),
        sa.Column("breach", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("adjustment_ref", sa.String(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("applied_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_pk"], ["reconciliation_runs.id"],
                                name=op.f("fk_reconciliation_proposals_run_pk_reconciliation_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_proposals")),
        sa.UniqueConstraint("integration", "run_pk", "sku", "location", name="uq_reconciliation_proposals_pair"),
    )
    with op.batch_alter_table("reconciliation_proposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reconciliation_proposals_run_pk"), ["run_pk"], unique=False)
        batch_op.create_index("ix_reconciliation_proposals_state", ["integration", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reconciliation_proposals", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_proposals_state")
        batch_op.drop_index(batch_op.f("ix_reconciliation_proposals_run_pk"))
    op.drop_table("reconciliation_proposals")
    with op.batch_alter_table("reconciliation_variances", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_variances_pair")
        for column in ("breach", "variance", "location", "sku"):
            batch_op.drop_column(column)
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_runs_run")
        batch_op.drop_index("ix_reconciliation_runs_date")
        batch_op.drop_column("updated_at")
