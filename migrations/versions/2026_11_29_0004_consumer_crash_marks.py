"""consumer crash marks: in-flight offsets per (group, topic, partition), counted as crashes

Revision ID: 0004_crash_marks
Revises: 0003_reporting
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_crash_marks"
down_revision = "0003_reporting"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumer_crash_marks",
        sa.Column("consumer_group", sa.String(249), nullable=False),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("partition_id", sa.Integer, nullable=False),
        sa.Column("first_offset", sa.BigInteger, nullable=False),
        sa.Column("last_offset", sa.BigInteger, nullable=False),
        sa.Column("in_flight", sa.Boolean, nullable=False),
        sa.Column("isolated", sa.Boolean, nullable=False),
        sa.Column("crashes", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "consumer_group",
            "topic",
            "partition_id",
            "first_offset",
            name="pk_consumer_crash_marks",
        ),
    )


def downgrade() -> None:
    op.drop_table("consumer_crash_marks")
