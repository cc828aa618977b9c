"""exceptions: ``parked_at`` — set when exception housekeeping gave up retrying (escalated once)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("exceptions") as batch:
        batch.add_column(sa.Column("parked_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("exceptions") as batch:
        batch.drop_column("parked_at")
