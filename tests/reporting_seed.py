"""A small, hand-checkable data set for the reporting views, API and charts tests.

Day 1, 10:00 UTC: ACME neutral x2 (Earnings), BETA positive x2 (Markets).
Day 2, 09:00 UTC: ACME negative x3 (Legal | Regulation; one a reprint), BETA positive x1,
plus one German ACME item that the views leave out. One firing alert on ticker:ACME (id 1)
names a3 and a5 and has one delivered notification. Model "m-old" says all that; "m-new"
(registered later) calls everything positive, so tests can tell which model a view reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import Connection, Engine, insert

from pipeline.clock import SimulatedClock
from pipeline.settings import DatabaseSettings
from pipeline.storage.alert_tables import (
    AlertEventRow,
    AlertRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import upgrade
from pipeline.storage.model_version import publish_current_model
from pipeline.storage.tables import ClassificationRow, ModelVersion, NewsItem, TickerMention

DAY1 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
OLD, NEW = "m-old", "m-new"

# id, time, ticker, topic, sentiment, score, content hash, english
ITEMS: list[tuple[str, datetime, str, str, str, float, str, bool]] = [
    ("a1", DAY1 + timedelta(minutes=5), "ACME", "Earnings", "neutral", 0.0, "h-a1", True),
    ("a2", DAY1 + timedelta(minutes=15), "ACME", "Earnings", "neutral", 0.0, "h-a2", True),
    ("b1", DAY1 + timedelta(minutes=20), "BETA", "Markets", "positive", 0.8, "h-b1", True),
    ("b2", DAY1 + timedelta(minutes=40), "BETA", "Markets", "positive", 0.8, "h-b2", True),
    (
        "a3",
        DAY2 + timedelta(minutes=1),
        "ACME",
        "Legal | Regulation",
        "negative",
        -0.9,
        "h-a3",
        True,
    ),
    (
        "a4",
        DAY2 + timedelta(minutes=2),
        "ACME",
        "Legal | Regulation",
        "negative",
        -0.9,
        "h-a3",
        True,
    ),
    (
        "a5",
        DAY2 + timedelta(minutes=3),
        "ACME",
        "Legal | Regulation",
        "negative",
        -0.9,
        "h-a5",
        True,
    ),
    ("b3", DAY2 + timedelta(minutes=4), "BETA", "Markets", "positive", 0.6, "h-b3", True),
    (
        "de",
        DAY2 + timedelta(minutes=5),
        "ACME",
        "Legal | Regulation",
        "negative",
        -0.9,
        "h-de",
        False,
    ),
]


def seed(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(ModelVersion), [_model(OLD, 0), _model(NEW, 1)])
        conn.execute(insert(NewsItem), [_item(*row) for row in ITEMS])
        conn.execute(insert(ClassificationRow), [_verdict(row, OLD) for row in ITEMS])
        conn.execute(insert(ClassificationRow), [_verdict(row, NEW) for row in ITEMS])
        conn.execute(
            insert(TickerMention),
            [
                {"item_id": r[0], "symbol": r[2], "origin": "producer", "event_time": r[1]}
                for r in ITEMS
            ],
        )
        seed_alert(conn)


ALERT_AT = DAY2 + timedelta(minutes=30)


def seed_alert(conn: Connection) -> None:
    explanation = {
        "value": 1.0,
        "baseline": 0.0,
        "z": 20.0,
        "threshold": 3.0,
        "top_items": [{"id": "a3", "score": -0.9}, {"id": "a5", "score": -0.9}],
    }
    conn.execute(
        insert(AlertRow),
        [
            {
                "id": 1,
                "rule": "negative_spike",
                "scope": "ticker:ACME",
                "scope_kind": "ticker",
                "state": "firing",
                "severity": "critical",
                "opened_at": ALERT_AT,
                "fired_at": ALERT_AT,
                "updated_at": ALERT_AT,
                "held_steps": 2,
                "clear_steps": 0,
                "window_start": ALERT_AT - timedelta(hours=1),
                "window_end": ALERT_AT,
                "value": 1.0,
                "baseline": 0.0,
                "z": 20.0,
                "explanation": explanation,
            }
        ],
    )
    conn.execute(
        insert(AlertEventRow),
        [
            {
                "id": 1,
                "alert_id": 1,
                "event_type": "alert.firing",
                "created_at": ALERT_AT,
                "payload": {},
            }
        ],
    )
    conn.execute(insert(WebhookEndpointRow), [_endpoint()])
    conn.execute(insert(WebhookDeliveryRow), [_delivery()])
    conn.execute(
        insert(WebhookAttemptRow),
        [
            {
                "delivery_id": 1,
                "attempt": 1,
                "attempted_at": ALERT_AT,
                "duration_ms": 12.0,
                "status_code": 204,
                "outcome": "delivered",
                "error": None,
            }
        ],
    )


def _endpoint() -> dict[str, Any]:
    return {
        "id": 1,
        "name": "ops",
        "url": "https://hooks.example/ops",
        "secret": "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXQ=",
        "enabled": True,
        "scope_kinds": [],
        "event_types": [],
        "min_severity": "warning",
        "body_format": "standard",
        "created_at": DAY1,
    }


def _delivery() -> dict[str, Any]:
    return {
        "id": 1,
        "webhook_id": "msg_seed1",
        "event_id": 1,
        "alert_id": 1,
        "endpoint_id": 1,
        "event_type": "alert.firing",
        "status": "delivered",
        "attempts": 1,
        "created_at": ALERT_AT,
        "next_attempt_at": ALERT_AT,
        "delivered_at": ALERT_AT,
        "last_error": None,
    }


def _model(version: str, age: int) -> dict[str, Any]:
    return {
        "version": version,
        "base_model": "test",
        "manifest": {"version": version},
        "registered_at": DAY1 + timedelta(days=age),
    }


def _item(
    item_id: str, at: datetime, ticker: str, _t: str, _s: str, _x: float, digest: str, en: bool
) -> dict[str, Any]:
    return {
        "id": item_id,
        "source": f"wire-{item_id[0]}",
        "published_at": at,
        "event_time": at,
        "processed_at": at,
        "headline": f"{ticker} headline {item_id}",
        "body": None,
        "url": f"https://news.example/{item_id}",
        "lang": "en" if en else "de",
        "is_english": en,
        "content_hash": digest,
        "reprint_of": "a3" if item_id == "a4" else None,
        "late": False,
        "warnings": None,
        "schema_version": "1.0",
    }


def _verdict(
    row: tuple[str, datetime, str, str, str, float, str, bool], model: str
) -> dict[str, Any]:
    item_id, at, _ticker, topic, sentiment, score, _digest, _en = row
    if model == NEW:
        sentiment, score = "positive", 0.5
    p_neg = max(-score, 0.0)
    p_pos = max(score, 0.0)
    return {
        "item_id": item_id,
        "model_version": model,
        "topic": topic,
        "topic_confidence": 0.9,
        "sentiment": sentiment,
        "p_negative": p_neg,
        "p_neutral": 1 - p_neg - p_pos,
        "p_positive": p_pos,
        "score": score,
        "event_time": at,
        "processed_at": at,
    }


def seeded_sqlite(directory: Path, current: str | None = OLD) -> Engine:
    """A migrated SQLite database holding the seed; `current` is published unless None."""
    url = f"sqlite:///{directory / 'reporting.db'}"
    upgrade(url)
    engine = make_engine(DatabaseSettings(url=SecretStr(url)))
    seed(engine)
    if current is not None:
        publish_current_model(engine, current, SimulatedClock(DAY2))
    return engine


def add_window_items(engine: Engine, count: int) -> list[str]:
    """`count` more negative English ACME items inside alert 1's window, all in DAY2's 09:00
    hour and topic "Legal | Regulation", so the seed's bars, topics and scopes stay as they are."""
    rows = [
        (
            f"w{n:02d}",
            DAY2 + timedelta(minutes=6, seconds=n),
            "ACME",
            "Legal | Regulation",
            "negative",
            -0.5,
            f"h-w{n:02d}",
            True,
        )
        for n in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(insert(NewsItem), [_item(*row) for row in rows])
        conn.execute(insert(ClassificationRow), [_verdict(row, OLD) for row in rows])
        conn.execute(
            insert(TickerMention),
            [
                {"item_id": r[0], "symbol": "ACME", "origin": "producer", "event_time": r[1]}
                for r in rows
            ],
        )
    return [r[0] for r in rows]
