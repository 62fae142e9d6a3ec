"""Where in-flight marks and crash counts live: the ledger's contract and its SQL form."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Engine, and_, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from pipeline.consumer.steps import Partition
from pipeline.errors import StorageError
from pipeline.storage.consumer_tables import CrashMarkRow


@dataclass(frozen=True)
class CrashMark:
    """Offsets first..last of a partition were in flight when a worker died `crashes` times."""

    partition: Partition
    first: int
    last: int
    crashes: int
    isolated: bool = False


class CrashLedger(Protocol):
    """Durable marks of a consumer group's in-flight offsets; raises StorageError on failure."""

    def mark(self, partition: Partition, first: int, last: int, isolated: bool) -> None:
        """Record, before they are processed, that offsets first..last are in flight."""
        ...

    def clear(self, partition: Partition, below: int) -> None:
        """Forget the marks whose every offset is committed (last < below)."""
        ...

    def release(self, partitions: Iterable[Partition]) -> None:
        """A clean hand-back: what was in flight did not crash; crash counts stay."""
        ...

    def count_crashes(self, partitions: Iterable[Partition]) -> list[CrashMark]:
        """Count each mark left in flight as one crash; return every mark that has crashed."""
        ...


class SqlCrashLedger:
    """The ledger in the `consumer_crash_marks` table (PostgreSQL, or SQLite embedded)."""

    def __init__(self, engine: Engine, group: str, now: Callable[[], datetime]) -> None:
        self._engine = engine
        self._group = group
        self._now = now

    def mark(self, partition: Partition, first: int, last: int, isolated: bool) -> None:
        row = {
            "consumer_group": self._group,
            "topic": partition.topic,
            "partition_id": partition.index,
            "first_offset": first,
            "last_offset": last,
            "in_flight": True,
            "isolated": isolated,
            "crashes": 0,
            "updated_at": self._now(),
        }
        insert = (postgresql if self._engine.dialect.name == "postgresql" else sqlite).insert
        statement = insert(CrashMarkRow).values(row)
        kept = CrashMarkRow.last_offset
        statement = statement.on_conflict_do_update(
            index_elements=_KEY,
            set_={
                "last_offset": case(
                    (statement.excluded.last_offset > kept, statement.excluded.last_offset),
                    else_=kept,
                ),
                "in_flight": True,
                "isolated": statement.excluded.isolated,
                "updated_at": statement.excluded.updated_at,
            },
        )
        self._run("mark in-flight offsets", [statement])

    def clear(self, partition: Partition, below: int) -> None:
        done = delete(CrashMarkRow).where(self._of([partition]), CrashMarkRow.last_offset < below)
        self._run("clear committed marks", [done])

    def release(self, partitions: Iterable[Partition]) -> None:
        owned = self._of(partitions)
        forget = delete(CrashMarkRow).where(
            owned, CrashMarkRow.in_flight, CrashMarkRow.crashes == 0
        )
        keep = update(CrashMarkRow).where(owned, CrashMarkRow.in_flight).values(in_flight=False)
        self._run("release in-flight marks", [forget, keep])

    def count_crashes(self, partitions: Iterable[Partition]) -> list[CrashMark]:
        owned = self._of(list(partitions))
        crashed = (
            update(CrashMarkRow)
            .where(owned, CrashMarkRow.in_flight)
            .values(crashes=CrashMarkRow.crashes + 1, in_flight=False, updated_at=self._now())
        )
        marks = select(CrashMarkRow).where(owned, CrashMarkRow.crashes > 0)
        try:
            with self._engine.begin() as conn:
                conn.execute(crashed)
                rows = conn.execute(marks).all()
        except SQLAlchemyError as e:
            raise StorageError(f"cannot count crashes: {_first_line(e)}") from e
        return [
            CrashMark(
                Partition(r.topic, r.partition_id),
                r.first_offset,
                r.last_offset,
                r.crashes,
                r.isolated,
            )
            for r in rows
        ]

    def _of(self, partitions: Iterable[Partition]) -> ColumnElement[bool]:
        by_topic: dict[str, list[int]] = {}
        for p in partitions:
            by_topic.setdefault(p.topic, []).append(p.index)
        return and_(
            CrashMarkRow.consumer_group == self._group,
            or_(
                False,
                *(
                    and_(CrashMarkRow.topic == topic, CrashMarkRow.partition_id.in_(indexes))
                    for topic, indexes in by_topic.items()
                ),
            ),
        )

    def _run(self, what: str, statements: Sequence[Any]) -> None:
        try:
            with self._engine.begin() as conn:
                for statement in statements:
                    conn.execute(statement)
        except SQLAlchemyError as e:
            raise StorageError(f"cannot {what}: {_first_line(e)}") from e


_KEY = ["consumer_group", "topic", "partition_id", "first_offset"]


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:300]
