"""core tables: news items, model versions, classifications, ticker mentions

Revision ID: 0001_core
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "news_items",
        sa.Column("id", sa.String(256), primary_key=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("published_at", TS, nullable=False),
        sa.Column("event_time", TS, nullable=False),
        sa.Column("processed_at", TS, nullable=False),
        sa.Column("headline", sa.Text, nullable=False),
        sa.Column("body", sa.Text),
        sa.Column("url", sa.Text),
        sa.Column("lang", sa.String(16), nullable=False),
        sa.Column("is_english", sa.Boolean, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column(
            "reprint_of",
            sa.String(256),
            sa.ForeignKey(
                "news_items.id", ondelete="SET NULL", name="fk_news_items_reprint_of_news_items"
            ),
        ),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("warnings", sa.JSON),
        sa.Column("schema_version", sa.String(16), nullable=False),
        sa.Column("kafka_topic", sa.String(249)),
        sa.Column("kafka_partition", sa.Integer),
        sa.Column("kafka_offset", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_news_items"),
    )
    op.create_index("ix_news_items_event_time", "news_items", ["event_time"])
    op.create_index("ix_news_items_content_hash", "news_items", ["content_hash"])
    op.create_table(
        "model_versions",
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("base_model", sa.String(200), nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
        sa.Column("registered_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_model_versions"),
    )
    op.create_table(
        "classifications",
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("topic_confidence", sa.Float, nullable=False),
        sa.Column("sentiment", sa.String(16), nullable=False),
        sa.Column("p_negative", sa.Float, nullable=False),
        sa.Column("p_neutral", sa.Float, nullable=False),
        sa.Column("p_positive", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("event_time", TS, nullable=False),
        sa.Column("processed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("item_id", "model_version", name="pk_classifications"),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["news_items.id"],
            ondelete="CASCADE",
            name="fk_classifications_item_id_news_items",
        ),
        sa.ForeignKeyConstraint(
            ["model_version"],
            ["model_versions.version"],
            name="fk_classifications_model_version_model_versions",
        ),
    )
    op.create_index(
        "ix_classifications_version_time", "classifications", ["model_version", "event_time"]
    )
    op.create_index(
        "ix_classifications_version_topic_time",
        "classifications",
        ["model_version", "topic", "event_time"],
    )
    op.create_table(
        "ticker_mentions",
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("symbol", sa.String(12), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("event_time", TS, nullable=False),
        sa.PrimaryKeyConstraint("item_id", "symbol", name="pk_ticker_mentions"),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["news_items.id"],
            ondelete="CASCADE",
            name="fk_ticker_mentions_item_id_news_items",
        ),
    )
    op.create_index("ix_ticker_mentions_symbol_time", "ticker_mentions", ["symbol", "event_time"])


def downgrade() -> None:
    op.drop_table("ticker_mentions")
    op.drop_table("classifications")
    op.drop_table("model_versions")
    op.drop_table("news_items")
