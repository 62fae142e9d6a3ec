"""dlq replays: each dead letter replayed, when and as what (replay once unless --again)

Revision ID: 0005_dlq_replays
Revises: 0004_crash_marks
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_dlq_replays"
down_revision = "0004_crash_marks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dlq_replays",
        sa.Column("dlq_topic", sa.String(249), nullable=False),
        sa.Column("dlq_partition", sa.Integer, nullable=False),
        sa.Column("dlq_offset", sa.BigInteger, nullable=False),
        sa.Column("original_topic", sa.String(249)),
        sa.Column("original_partition", sa.Integer),
        sa.Column("original_offset", sa.BigInteger),
        sa.Column("replays", sa.Integer, nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_as", sa.Text, nullable=False),
        sa.Column("sent_topic", sa.String(249), nullable=False),
        sa.Column("sent_partition", sa.Integer, nullable=False),
        sa.Column("sent_offset", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("dlq_topic", "dlq_partition", "dlq_offset", name="pk_dlq_replays"),
    )


def downgrade() -> None:
    op.drop_table("dlq_replays")
