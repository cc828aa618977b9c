"""dispatch confirmation: inbox columns, security events, subscriptions, despatches

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("webhook_inbox") as batch:
        batch.add_column(sa.Column("entity_key", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("emit_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.create_index("ix_webhook_inbox_emit", ["asset_event_id"])
        batch.create_unique_constraint("uq_webhook_inbox_dedupe", ["integration", "dedupe_key"])
    op.create_table(
        "security_events",
        _id(),
        sa.Column("integration", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_events")),
    )
    op.create_index("ix_security_events_at", "security_events", ["integration", "at"])
    op.create_table(
        "subscriptions",
        _id(),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("integration", "system", "event_type", name="uq_subscriptions_event"),
    )
    op.create_table(
        "despatches",
        _id(),
        sa.Column("integration", sa.String(length=64), nullable=False),
        sa.Column("despatch_number", sa.String(length=64), nullable=False),
        sa.Column("wms_order_number", sa.String(length=64), nullable=False),
        sa.Column("erp_order_id", sa.String(length=128), nullable=True),
        sa.Column("erp_order_number", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=True),
        sa.Column("erp_ref", sa.String(length=128), nullable=True),
        sa.Column("carrier", sa.String(length=128), nullable=True),
        sa.Column("service", sa.String(length=128), nullable=True),
        sa.Column("lines", sa.JSON(), nullable=True),
        sa.Column("packages", sa.JSON(), nullable=True),
        sa.Column("erp_tracking", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("despatched_at", sa.DateTime(), nullable=True),
        sa.Column("callback_at", sa.DateTime(), nullable=True),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_despatches")),
        sa.UniqueConstraint("integration", "despatch_number", name="uq_despatches_number"),
    )
    op.create_index("ix_despatches_state", "despatches", ["integration", "state"])
    op.create_index("ix_despatches_order", "despatches", ["integration", "wms_order_number"])


def downgrade() -> None:
    op.drop_index("ix_despatches_order", table_name="despatches")
    op.drop_index("ix_despatches_state", table_name="despatches")
    op.drop_table("despatches")
    op.drop_table("subscriptions")
    op.drop_index("ix_security_events_at", table_name="security_events")
    op.drop_table("security_events")
    with op.batch_alter_table("webhook_inbox") as batch:
        batch.drop_constraint("uq_webhook_inbox_dedupe", type_="unique")
        batch.drop_index("ix_webhook_inbox_emit")
        batch.drop_column("emit_attempts")
        batch.drop_column("error")
        batch.drop_column("attempts")
        batch.drop_column("entity_key")
