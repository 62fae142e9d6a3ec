"""Trend tables: the stored windows per scope and the log of computed scheduler steps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Float, Index, Integer, String, TypeDecorator, text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.storage.partitions import PARTITION_BY
from pipeline.storage.tables import Base, ClassificationRow, NewsItem, TickerMention


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend; SQLite hands back naive values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(moment, datetime)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class TrendWindow(Base):
    """One sliding window (window_end - W, window_end] of one scope, keyed on event time.

    On PostgreSQL the table is partitioned by day of `window_end` (storage/partitions.py);
    the key holds `window_end`, as every unique constraint of a partitioned table must.
    """

    __tablename__ = "trend_windows"

    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    scope_kind: Mapped[str] = mapped_column(String(8))
    count: Mapped[int] = mapped_column(Integer)
    sources: Mapped[int] = mapped_column(Integer)
    negative: Mapped[int] = mapped_column(Integer)
    positive: Mapped[int] = mapped_column(Integer)
    negative_share: Mapped[float] = mapped_column(Float)
    positive_share: Mapped[float] = mapped_column(Float)
    mean_score: Mapped[float | None] = mapped_column(Float, doc="confidence-weighted")
    reprint_adjusted: Mapped[int] = mapped_column(Integer, doc="distinct content hashes")
    evidence: Mapped[float] = mapped_column(
        Float, server_default=text("0"), doc="items weighted by relevance, copies once"
    )
    negative_evidence: Mapped[float] = mapped_column(
        Float, server_default=text("0"), doc="the negative part of evidence"
    )
    model_version: Mapped[str] = mapped_column(String(64))
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        Index("ix_trend_windows_window_end", "window_end"),
        {"postgresql_partition_by": PARTITION_BY},
    )


class TrendStep(Base):
    """A computed step (kind `step`) or a baseline window end filled in later (`backfill`).

    The primary key makes a step impossible to compute twice, whoever holds the lock.
    """

    __tablename__ = "trend_steps"

    step_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    computed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_ms: Mapped[float] = mapped_column(Float, default=0.0)
    windows: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str] = mapped_column(String(120))


# Window queries read mentions by event time; late-arrival detection reads what was
# classified since the last step.
MENTIONS_TIME_INDEX = Index("ix_ticker_mentions_event_time", TickerMention.event_time)
# Retention deletes news items; each delete looks up the reprints that point at it.
REPRINT_INDEX = Index("ix_news_items_reprint_of", NewsItem.reprint_of)
CLASSIFICATIONS_PROCESSED_INDEX = Index(
    "ix_classifications_version_processed",
    ClassificationRow.model_version,
    ClassificationRow.processed_at,
)
