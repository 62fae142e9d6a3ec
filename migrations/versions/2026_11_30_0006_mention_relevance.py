"""mention relevance: per-mention relevance, per-item copy fingerprint, window evidence

Old mentions keep counting fully (relevance 1.0); old items have no fingerprint and count as
their own copy; old windows' evidence is their plain count.

Revision ID: 0006_mention_relevance
Revises: 0005_dlq_replays
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_mention_relevance"
down_revision = "0005_dlq_replays"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "ticker_mentions",
        sa.Column("relevance", sa.Float, nullable=False, server_default=sa.text("1.0")),
    )
    op.add_column("news_items", sa.Column("fingerprint", sa.String(64), nullable=True))
    for name in ("evidence", "negative_evidence"):
        op.add_column(
            "trend_windows",
            sa.Column(name, sa.Float, nullable=False, server_default=sa.text("0")),
        )
    op.execute("UPDATE trend_windows SET evidence = count, negative_evidence = negative")


def downgrade() -> None:
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35 has it): a batch copy of news_items
    # would have to drop a table that the reporting views and foreign keys refer to.
    for table, name in (
        ("trend_windows", "negative_evidence"),
        ("trend_windows", "evidence"),
        ("news_items", "fingerprint"),
        ("ticker_mentions", "relevance"),
    ):
        op.drop_column(table, name)
