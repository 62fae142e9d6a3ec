"""Writing scored batches: one transaction per batch, idempotent Core bulk inserts.

Every insert is ON CONFLICT DO NOTHING on the table's key, so replaying a batch after a
crash or a rebalance is harmless; works on PostgreSQL and SQLite alike.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Table,
    select,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from pipeline.errors import StorageError
from pipeline.items.identity import copy_fingerprint
from pipeline.items.scored import ModelRecord, ScoredEvent, Scores
from pipeline.items.tickers import Mention
from pipeline.storage.tables import ClassificationRow, ModelVersion, NewsItem, TickerMention

ITEMS: Table = NewsItem.__table__  # type: ignore[assignment]  # declarative tables are Tables
CLASSIFICATIONS: Table = ClassificationRow.__table__  # type: ignore[assignment]
MENTIONS: Table = TickerMention.__table__  # type: ignore[assignment]
MODELS: Table = ModelVersion.__table__  # type: ignore[assignment]


class RowsRejectedError(StorageError):
    """The database refused the rows themselves (constraint, value too long): retrying the
    same rows cannot succeed, unlike a connection failure."""


@dataclass(frozen=True)
class TimePolicy:
    """The event-time clamp and the lateness horizon (DESIGN §5)."""

    allowed_skew: timedelta
    lateness_horizon: timedelta

    def event_time(self, published_at: datetime, processed_at: datetime) -> datetime:
        return min(published_at, processed_at + self.allowed_skew)

    def is_late(self, published_at: datetime, processed_at: datetime) -> bool:
        return processed_at - published_at > self.lateness_horizon


@dataclass(frozen=True)
class ResultBatch:
    model: ModelRecord
    items: Sequence[ScoredEvent]
    processed_at: datetime


@dataclass(frozen=True)
class WriteCounts:
    items: int
    classifications: int
    mentions: int


def store_batch(engine: Engine, batch: ResultBatch, policy: TimePolicy) -> WriteCounts:
    """Insert the batch's items, classifications and mentions in one transaction."""
    items = _originals_first(batch.items)
    item_rows = [_item_row(i, batch.processed_at, policy) for i in items]
    times = {row["id"]: row["event_time"] for row in item_rows}
    class_rows = [_classification_row(i, batch, times[i.event.id]) for i in items]
    mention_rows = [_mention_row(i, m, times) for i in items for m in i.mentions]
    tables = (
        (MODELS, [_model_row(batch)]),
        (ITEMS, item_rows),
        (CLASSIFICATIONS, class_rows),
        (MENTIONS, mention_rows),
    )
    try:
        with engine.begin() as conn:
            counts = _insert_all(conn, tables)
            written = WriteCounts(counts[1], counts[2], counts[3])
    except (IntegrityError, DataError) as e:
        raise RowsRejectedError(f"batch of {len(items)} items refused: {e}") from e
    except SQLAlchemyError as e:
        raise StorageError(f"batch of {len(items)} items not stored: {e}") from e
    return written


def find_originals(
    engine: Engine, hashes: Iterable[str], version: str
) -> dict[str, tuple[str, Scores]]:
    """Stored originals of these content hashes with their scores under `version`."""
    wanted = sorted(set(hashes))
    if not wanted:
        return {}
    query = (
        select(ITEMS.c.content_hash, ITEMS.c.id, *_SCORE_COLUMNS)
        .join(CLASSIFICATIONS, CLASSIFICATIONS.c.item_id == ITEMS.c.id)
        .where(ITEMS.c.content_hash.in_(wanted), CLASSIFICATIONS.c.model_version == version)
        .order_by(ITEMS.c.reprint_of.is_not(None), ITEMS.c.processed_at, ITEMS.c.id)
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).all()
    except SQLAlchemyError as e:
        raise StorageError(f"reprint lookup failed: {e}") from e
    found: dict[str, tuple[str, Scores]] = {}
    for row in rows:
        found.setdefault(row[0], (row[1], Scores(*row[2:])))
    return found


_SCORE_COLUMNS = (
    CLASSIFICATIONS.c.topic,
    CLASSIFICATIONS.c.topic_confidence,
    CLASSIFICATIONS.c.sentiment,
    CLASSIFICATIONS.c.p_negative,
    CLASSIFICATIONS.c.p_neutral,
    CLASSIFICATIONS.c.p_positive,
    CLASSIFICATIONS.c.score,
)


def _insert_all(
    conn: Connection, tables: Sequence[tuple[Table, list[dict[str, Any]]]]
) -> list[int]:
    """Rows inserted per table. On Postgres one statement does all tables: one round trip,
    and foreign keys between them are checked at its end."""
    if conn.dialect.name != "postgresql":
        return [_insert_sqlite(conn, table, rows) for table, rows in tables]
    ctes: list[str] = []
    params: list[list[Any]] = []
    for n, (table, rows) in enumerate(tables):
        sql, columns = _unnest_insert(table)
        ctes.append(f"t{n} AS ({sql})")
        params.extend([_pg_value(row.get(c.name), c) for row in rows] for c in columns)
    counts = ", ".join(f"(SELECT count(*) FROM t{n})" for n in range(len(tables)))
    row = conn.exec_driver_sql(f"WITH {', '.join(ctes)} SELECT {counts}", tuple(params)).one()
    return [int(n) for n in row]


def _insert_sqlite(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    first_key = next(iter(table.primary_key.columns))
    statement = sqlite.insert(table).on_conflict_do_nothing().returning(first_key)
    return len(conn.execute(statement, rows).all())


@functools.cache
def _unnest_insert(table: Table) -> tuple[str, tuple[Column[Any], ...]]:
    # One array per column: the statement text stays the same whatever the batch size, so
    # it is parsed once (a multi-row VALUES text is re-parsed by the driver every batch).
    columns = tuple(table.columns)
    names = ", ".join(c.name for c in columns)
    arrays = ", ".join(f"%s::{_pg_array_type(c)}[]" for c in columns)
    picks = ", ".join(f"u.{c.name}::json" if _is_json(c) else f"u.{c.name}" for c in columns)
    key = next(iter(table.primary_key.columns)).name
    sql = (
        f"INSERT INTO {table.name} ({names}) SELECT {picks} FROM unnest({arrays}) AS u({names}) "
        f"ON CONFLICT DO NOTHING RETURNING {key}"
    )
    return sql, columns


def _is_json(column: Column[Any]) -> bool:
    return isinstance(column.type, JSON)


def _pg_array_type(column: Column[Any]) -> str:
    kind = column.type
    if _is_json(column) or isinstance(kind, String):
        return "text"
    for sa_type, pg in (
        (DateTime, "timestamptz"),
        (Boolean, "bool"),
        (BigInteger, "int8"),
        (Integer, "int4"),
        (Float, "float8"),
    ):
        if isinstance(kind, sa_type):
            return pg
    raise TypeError(f"no array type for {column.table.name}.{column.name} ({kind})")


def _pg_value(value: Any, column: Column[Any]) -> Any:
    return json.dumps(value) if value is not None and _is_json(column) else value


def _originals_first(items: Sequence[ScoredEvent]) -> list[ScoredEvent]:
    # A reprint's foreign key needs its original inserted before it (SQLite checks per row).
    return sorted(items, key=lambda item: item.reprint_of is not None)


def _model_row(batch: ResultBatch) -> dict[str, Any]:
    model = batch.model
    return {
        "version": model.version,
        "base_model": model.base_model,
        "manifest": model.manifest,
        "registered_at": batch.processed_at,
    }


def _item_row(item: ScoredEvent, processed_at: datetime, policy: TimePolicy) -> dict[str, Any]:
    event, where = item.event, item.coordinates
    return {
        "id": event.id,
        "source": event.source,
        "published_at": event.published_at,
        "event_time": policy.event_time(event.published_at, processed_at),
        "processed_at": processed_at,
        "headline": event.headline,
        "body": event.body,
        "url": event.url,
        "lang": event.lang,
        "is_english": event.is_english,
        "content_hash": item.content_hash,
        "fingerprint": copy_fingerprint(event),
        "reprint_of": item.reprint_of,
        "late": policy.is_late(event.published_at, processed_at),
        "warnings": list(event.warnings) or None,
        "schema_version": event.schema_version,
        "kafka_topic": where.topic,
        "kafka_partition": where.partition,
        "kafka_offset": where.offset,
    }


def _classification_row(
    item: ScoredEvent, batch: ResultBatch, event_time: datetime
) -> dict[str, Any]:
    s = item.scores
    return {
        "item_id": item.event.id,
        "model_version": batch.model.version,
        "topic": s.topic,
        "topic_confidence": s.topic_confidence,
        "sentiment": s.sentiment,
        "p_negative": s.p_negative,
        "p_neutral": s.p_neutral,
        "p_positive": s.p_positive,
        "score": s.score,
        "event_time": event_time,
        "processed_at": batch.processed_at,
    }


def _mention_row(item: ScoredEvent, mention: Mention, times: dict[str, datetime]) -> dict[str, Any]:
    return {
        "item_id": item.event.id,
        "symbol": mention.symbol,
        "origin": mention.origin,
        "relevance": mention.relevance,
        "event_time": times[item.event.id],
    }


def store_classifications(
    engine: Engine,
    model: ModelRecord,
    items: Sequence[ScoredEvent],
    event_times: dict[str, datetime],
    processed_at: datetime,
) -> int:
    """Only classification rows (reclassify): one transaction, idempotent."""
    batch = ResultBatch(model, items, processed_at)
    rows = [_classification_row(i, batch, event_times[i.event.id]) for i in items]
    try:
        with engine.begin() as conn:
            return _insert_all(conn, ((MODELS, [_model_row(batch)]), (CLASSIFICATIONS, rows)))[1]
    except SQLAlchemyError as e:
        raise StorageError(f"{len(rows)} classifications not stored: {e}") from e
