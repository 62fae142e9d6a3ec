"""Consumer tables: where a partition's in-flight records are marked, so a crash is counted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.storage.tables import Base
from pipeline.storage.trend_tables import UtcDateTime


class CrashMarkRow(Base):
    """Offsets first..last of a partition in flight for a group; a mark still in flight when a
    new owner takes the partition is a crash (a clean hand-back clears it)."""

    __tablename__ = "consumer_crash_marks"

    consumer_group: Mapped[str] = mapped_column(String(249), primary_key=True)
    topic: Mapped[str] = mapped_column(String(249), primary_key=True)
    partition_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    last_offset: Mapped[int] = mapped_column(BigInteger)
    in_flight: Mapped[bool] = mapped_column(Boolean)
    isolated: Mapped[bool] = mapped_column(Boolean, doc="a suspect record processed alone")
    crashes: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
