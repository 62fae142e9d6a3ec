"""Rescoring stored items with another model, beside the old results; resumable by query.

Each page is the next items (by id) in the time range that lack a row for the new
version, so a stopped run simply continues where the stored rows end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, RowMapping, exists, func, select

from pipeline.items.scored import ModelRecord
from pipeline.model.classify import BatchClassifier, Envelope
from pipeline.storage.results import CLASSIFICATIONS, ITEMS, store_classifications
from schemas import NewsEvent


@dataclass(frozen=True)
class TimeRange:
    start: datetime | None = None
    end: datetime | None = None


def _lacking(version: str, span: TimeRange) -> list[ColumnElement[bool]]:
    scored = exists().where(
        CLASSIFICATIONS.c.item_id == ITEMS.c.id, CLASSIFICATIONS.c.model_version == version
    )
    conditions: list[ColumnElement[bool]] = [~scored]
    if span.start is not None:
        conditions.append(ITEMS.c.event_time >= span.start)
    if span.end is not None:
        conditions.append(ITEMS.c.event_time < span.end)
    return conditions


def count_unscored(engine: Engine, version: str, span: TimeRange) -> int:
    query = select(func.count()).select_from(ITEMS).where(*_lacking(version, span))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def rescore_page(
    engine: Engine,
    classifier: BatchClassifier,
    model: ModelRecord,
    span: TimeRange,
    processed_at: datetime,
    limit: int,
) -> int:
    """Score the next `limit` unscored items and store their rows; returns how many."""
    query = select(ITEMS).where(*_lacking(model.version, span)).order_by(ITEMS.c.id).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    if not rows:
        return 0
    envelopes = [Envelope(_event(row)) for row in rows]
    scored = classifier.classify(envelopes)
    times = {row["id"]: row["event_time"] for row in rows}
    store_classifications(engine, model, scored.items, times, processed_at)
    return len(rows)


def _event(values: RowMapping) -> NewsEvent:
    return NewsEvent.model_construct(
        id=values["id"],
        source=values["source"],
        published_at=values["published_at"],
        headline=values["headline"],
        body=values["body"],
        url=values["url"],
        tickers=(),
        lang=values["lang"],
        schema_version=values["schema_version"],
        warnings=(),
    )
