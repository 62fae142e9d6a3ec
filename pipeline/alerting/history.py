"""History mode (DESIGN §5): a replay of old news runs the rules on the replay's event clock.

The rules' lifecycle over a replayed span is computed by the backtest (the same `evaluate` and
`advance` as the live scheduler) and stored as alerts and alert events, so `alerts list`, the
report and the dashboard show history. History is not notified: no webhook deliveries.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select

from pipeline.alerting.backtest import BacktestEvent, run_backtest
from pipeline.alerting.maintenance import newest_event_time
from pipeline.alerting.outbox import alert_of, notification_payload
from pipeline.alerting.rules import Rule, load_rules
from pipeline.clock import as_utc
from pipeline.scope import scope_kind
from pipeline.settings import Settings
from pipeline.storage.alert_tables import (
    AlertEventRow,
    AlertRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
)
from pipeline.storage.tables import NewsItem

log = logging.getLogger(__name__)
STATE_AFTER = {
    "alert.pending": "pending",
    "alert.firing": "firing",
    "alert.repeat": "firing",
    "alert.resolved": "resolved",
    "alert.cancelled": "cancelled",
}


class StoredEventClock:
    """The replay's event clock: now is the newest stored event time (never ahead of the
    wall clock; the wall clock until the first event is stored)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def now(self) -> datetime:
        wall = datetime.now(UTC)
        newest = newest_event_time(self._engine)
        return wall if newest is None else min(newest, wall)

    def monotonic(self) -> float:
        return time.monotonic()


def stored_span(engine: Engine) -> tuple[datetime, datetime] | None:
    with engine.connect() as conn:
        lo, hi = conn.execute(
            select(func.min(NewsItem.event_time), func.max(NewsItem.event_time))
        ).one()
    return None if lo is None or hi is None else (as_utc(lo), as_utc(hi))


def replay_history(
    engine: Engine,
    settings: Settings,
    start: datetime,
    end: datetime,
    rules: Sequence[Rule] | None = None,
) -> list[BacktestEvent]:
    """Run the rules over [start, end] of stored history and store what they produced."""
    active = tuple(rules) if rules is not None else load_rules(settings.alerts)
    events = run_backtest(engine, settings, start, end, active)
    with engine.begin() as conn:
        store_events(conn, events, [r.name for r in active], start, end)
    log.info("history %s to %s: %d alert events stored", start, end, len(events))
    return events


def store_events(
    conn: Connection,
    events: Sequence[BacktestEvent],
    rules: Sequence[str],
    start: datetime,
    end: datetime,
) -> int:
    """Alerts from backtest events; re-storing a span replaces that span's alerts."""
    replaced = select(AlertRow.id).where(
        AlertRow.rule.in_(list(rules)), AlertRow.opened_at >= start, AlertRow.opened_at <= end
    )
    deliveries = select(WebhookDeliveryRow.id).where(WebhookDeliveryRow.alert_id.in_(replaced))
    # explicit rather than ON DELETE CASCADE: a SQLite connection may have foreign keys off
    conn.execute(delete(WebhookAttemptRow).where(WebhookAttemptRow.delivery_id.in_(deliveries)))
    conn.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.alert_id.in_(replaced)))
    conn.execute(delete(AlertEventRow).where(AlertEventRow.alert_id.in_(replaced)))
    conn.execute(delete(AlertRow).where(AlertRow.id.in_(replaced)))
    by_alert: dict[tuple[str, str], list[BacktestEvent]] = defaultdict(list)
    stored = 0
    for event in events:
        key = (event.rule, event.scope)
        by_alert[key].append(event)
        state = STATE_AFTER[event.event]
        if state in ("resolved", "cancelled"):
            stored += _flush(conn, by_alert.pop(key))
    for leftover in by_alert.values():
        stored += _flush(conn, leftover)
    return stored


def _flush(conn: Connection, events: list[BacktestEvent]) -> int:
    """One alert row (opened by the first event) and its event rows."""
    if not events:
        return 0
    first, last = events[0], events[-1]
    evidence = next((e for e in reversed(events) if e.explanation), first)
    why = evidence.explanation
    fired = next((e.at for e in events if e.event == "alert.firing"), None)
    state = STATE_AFTER[last.event]
    values: dict[str, Any] = {
        "rule": first.rule,
        "scope": first.scope,
        "scope_kind": scope_kind(first.scope),
        "state": state,
        "severity": evidence.severity or "warning",
        "opened_at": first.at,
        "fired_at": fired,
        "updated_at": last.at,
        "resolved_at": last.at if state in ("resolved", "cancelled") else None,
        "last_notified_at": max((e.at for e in events if e.event != "alert.pending"), default=None),
        "held_steps": 0,
        "clear_steps": 0,
        "window_start": datetime.fromisoformat(why["window_start"]),
        "window_end": datetime.fromisoformat(why["window_end"]),
        "value": why["value"],
        "baseline": why["baseline_median"],
        "z": why["z"],
        "explanation": why,
    }
    alert_id = conn.execute(insert(AlertRow).values(values).returning(AlertRow.id)).scalar_one()
    row = {**values, "id": alert_id}
    for event in events:
        alert = alert_of({**row, "state": STATE_AFTER[event.event]})
        payload = notification_payload(alert, event.event, event.at)
        conn.execute(
            insert(AlertEventRow).values(
                alert_id=alert_id, event_type=event.event, created_at=event.at, payload=payload
            )
        )
    return 1
