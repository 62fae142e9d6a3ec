"""Retention and partitions ahead: keep what is younger than the configured horizons.

On PostgreSQL trend windows live in daily partitions: whole days past the horizon are
dropped, the day that straddles it loses its older rows by batched deletes, as the other
tables do (news items and classifications are not partitioned yet: RELIABILITY.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, delete, func, select, tuple_

from pipeline.clock import as_utc
from pipeline.settings import RetentionSettings
from pipeline.storage.alert_tables import WebhookDeliveryRow
from pipeline.storage.partitions import drop_partitions_before, ensure_partitions
from pipeline.storage.tables import NewsItem
from pipeline.storage.trend_tables import TrendStep, TrendWindow

BATCH_ROWS = 10_000
# Maintenance runs hourly and every step creates its own days when missing: a week ahead
# keeps the table lock that creating a partition takes off the steps' path.
PARTITIONS_AHEAD = timedelta(days=7)


def prepare_partitions(engine: Engine) -> list[str]:
    """Window partitions from the newest stored event's day to a week past it; names created."""
    newest = newest_event_time(engine)
    return [] if newest is None else ensure_partitions(engine, newest, newest + PARTITIONS_AHEAD)


def apply_retention(
    engine: Engine, settings: RetentionSettings, now: datetime, batch: int = BATCH_ROWS
) -> dict[str, int]:
    """Rows deleted per table (not those of dropped window partitions, which are logged);
    classifications and mentions go with their news items.

    Horizons count back from the newest stored event when that is older than `now`: a replay
    of history keeps its data (DESIGN §5, "History").
    """
    now = min(now, newest_event_time(engine) or now)
    windows = now - timedelta(days=settings.windows_days)
    deliveries = now - timedelta(days=settings.deliveries_days)
    items = now - timedelta(days=settings.items_days)
    drop_partitions_before(engine, windows)
    D = WebhookDeliveryRow  # noqa: N806 - a table alias
    plan: list[tuple[Any, Callable[[Table], ColumnElement[bool]]]] = [
        (TrendWindow, lambda t: t.c.window_end < windows),
        (TrendStep, lambda t: t.c.step_at < windows),
        (D, lambda t: (t.c.created_at < deliveries) & (t.c.status != "pending")),
        (NewsItem, lambda t: t.c.event_time < items),
    ]
    return {
        model.__tablename__: _delete_in_batches(engine, model.__table__, where, batch)
        for model, where in plan
    }


def newest_event_time(engine: Engine) -> datetime | None:
    with engine.connect() as conn:
        newest = conn.execute(select(func.max(NewsItem.event_time))).scalar_one_or_none()
    return None if newest is None else as_utc(newest)


def _delete_in_batches(
    engine: Engine, table: Table, where: Callable[[Table], ColumnElement[bool]], batch: int
) -> int:
    key = tuple_(*table.primary_key.columns)
    removed = 0
    while True:
        with engine.begin() as conn:
            doomed = select(*table.primary_key.columns).where(where(table)).limit(batch)
            count = conn.execute(delete(table).where(key.in_(doomed))).rowcount
        removed += count
        if count < batch:
            return removed
