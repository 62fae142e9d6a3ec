"""The core tables: news items, classifications, ticker mentions, model versions.

Trend, alert and webhook tables live beside their features, each in its own migration.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: Timestamp, dict[str, Any]: JSON}


class NewsItem(Base):
    """One distinct inbound item, stored exactly once by its id."""

    __tablename__ = "news_items"

    id: Mapped[str] = mapped_column(String(256), primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    published_at: Mapped[datetime]
    event_time: Mapped[datetime] = mapped_column(doc="published_at clamped to processed + skew")
    processed_at: Mapped[datetime]
    headline: Mapped[str] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(16), default="en")
    is_english: Mapped[bool] = mapped_column(Boolean, default=True)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint: Mapped[str | None] = mapped_column(
        String(64), doc="copy fingerprint (pipeline.items.identity); NULL before it was stored"
    )
    reprint_of: Mapped[str | None] = mapped_column(ForeignKey("news_items.id", ondelete="SET NULL"))
    late: Mapped[bool] = mapped_column(Boolean, default=False, doc="arrived past the horizon")
    warnings: Mapped[list[str] | None] = mapped_column(JSON)
    schema_version: Mapped[str] = mapped_column(String(16))
    kafka_topic: Mapped[str | None] = mapped_column(String(249))
    kafka_partition: Mapped[int | None] = mapped_column(Integer)
    kafka_offset: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_news_items_event_time", "event_time"),)


class ModelVersion(Base):
    """A model bundle that has scored items; `version` is its content hash."""

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    base_model: Mapped[str] = mapped_column(String(200))
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    registered_at: Mapped[datetime]


class ClassificationRow(Base):
    """What one model version said about one item; event_time is copied for window queries."""

    __tablename__ = "classifications"

    item_id: Mapped[str] = mapped_column(
        ForeignKey("news_items.id", ondelete="CASCADE"), primary_key=True
    )
    model_version: Mapped[str] = mapped_column(
        ForeignKey("model_versions.version"), primary_key=True
    )
    topic: Mapped[str] = mapped_column(String(64))
    topic_confidence: Mapped[float] = mapped_column(Float)
    sentiment: Mapped[str] = mapped_column(String(16))
    p_negative: Mapped[float] = mapped_column(Float)
    p_neutral: Mapped[float] = mapped_column(Float)
    p_positive: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    event_time: Mapped[datetime]
    processed_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_classifications_version_time", "model_version", "event_time"),
        Index("ix_classifications_version_topic_time", "model_version", "topic", "event_time"),
    )


class TickerMention(Base):
    """A symbol an item is about; unique per item and symbol."""

    __tablename__ = "ticker_mentions"

    item_id: Mapped[str] = mapped_column(
        ForeignKey("news_items.id", ondelete="CASCADE"), primary_key=True
    )
    symbol: Mapped[str] = mapped_column(String(12), primary_key=True)
    origin: Mapped[str] = mapped_column(String(16), doc="producer | cashtag | name")
    relevance: Mapped[float] = mapped_column(
        Float, default=1.0, server_default=text("1.0"), doc="how much the item is about it, 0-1"
    )
    event_time: Mapped[datetime]

    __table_args__ = (Index("ix_ticker_mentions_symbol_time", "symbol", "event_time"),)


# Process-published settings the SQL views read (the current model version); created by the
# reporting migration. A table of the ORM metadata so every schema a test builds has it.
settings_kv = Table(
    "settings_kv",
    Base.metadata,
    Column("key", String(100), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
