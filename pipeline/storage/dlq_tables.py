"""DLQ tables: which dead letters were replayed, when, and as what."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.storage.tables import Base
from pipeline.storage.trend_tables import UtcDateTime


class DlqReplayRow(Base):
    """One dead letter (by its DLQ coordinates) that was sent back to the raw topic."""

    __tablename__ = "dlq_replays"

    dlq_topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    dlq_partition: Mapped[int] = mapped_column(Integer, primary_key=True)
    dlq_offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    original_topic: Mapped[str | None] = mapped_column(String(249))
    original_partition: Mapped[int | None] = mapped_column(Integer)
    original_offset: Mapped[int | None] = mapped_column(BigInteger)
    replays: Mapped[int] = mapped_column(Integer, doc="times sent (more than 1 only with --again)")
    replayed_at: Mapped[datetime] = mapped_column(UtcDateTime, doc="the latest send")
    sent_as: Mapped[str] = mapped_column(Text, doc="the fixes applied: as-is, strip-bom, patch…")
    sent_topic: Mapped[str] = mapped_column(String(249))
    sent_partition: Mapped[int] = mapped_column(Integer)
    sent_offset: Mapped[int] = mapped_column(BigInteger)
