"""Scripted news for the alert tests: rows written straight into the core tables."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, insert
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from pipeline.storage.tables import ClassificationRow, ModelVersion, NewsItem, TickerMention

VERSION = "test-model-v1"
PROBS = {"negative": (0.85, 0.10, 0.05), "neutral": (0.10, 0.80, 0.10), "positive": (0.05, 0.1, 0.85)}


@dataclass
class Stream:
    """Adds items with increasing ids; `pending` rows are written by `flush`."""

    engine: Engine
    serial: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    mentions: list[dict[str, Any]] = field(default_factory=list)

    def register_model(self, when: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                insert(ModelVersion).values(
                    version=VERSION, base_model="test", manifest={}, registered_at=when
                )
            )

    def add(self, when: datetime, symbol: str | None, sentiment: str, topic: str = "Markets",
            processed: datetime | None = None, english: bool = True, relevance: float = 1.0,
            copy_of: str | None = None, headline: str | None = None) -> str:
        """One item and its row of VERSION; `copy_of` (a fingerprint) makes it a near-duplicate
        from source-copies; `headline` for tests a real model reads."""
        self.serial += 1
        item_id = f"item-{self.serial}"
        headline = headline or f"{symbol or 'Market'} {sentiment} news number {self.serial}"
        neg, neu, pos = PROBS[sentiment]
        seen = processed or when
        source = "source-copies" if copy_of else f"source-{self.serial % 4}"
        self.items.append({
            "id": item_id, "source": source, "published_at": when, "fingerprint": copy_of,
            "event_time": when, "processed_at": seen, "headline": headline, "body": None,
            "url": f"https://news.example/{self.serial}", "lang": "en" if english else "de",
            "is_english": english, "content_hash": hashlib.sha256(headline.encode()).hexdigest(),
            "reprint_of": None, "late": False, "warnings": None, "schema_version": "1.0",
        })
        self.results.append({
            "item_id": item_id, "model_version": VERSION, "topic": topic, "topic_confidence": 0.9,
            "sentiment": sentiment, "p_negative": neg, "p_neutral": neu, "p_positive": pos,
            "score": pos - neg, "event_time": when, "processed_at": seen,
        })
        if symbol:
            self.mentions.append({"item_id": item_id, "symbol": symbol, "origin": "producer",
                                  "relevance": relevance, "event_time": when})
        return headline

    def flush(self) -> None:
        with self.engine.begin() as conn:
            for model, rows in ((NewsItem, self.items), (ClassificationRow, self.results),
                                (TickerMention, self.mentions)):
                if rows:
                    conn.execute(insert(model), rows)
        self.items, self.results, self.mentions = [], [], []


@dataclass
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: dict[str, Any]
    verified_by: tuple[int, ...]
    status: int = 200
    stalled: bool = False


@dataclass
class Receiver:
    """A local webhook receiver; `answer(n)` picks the reply to the n-th request (0-based)."""

    secrets: list[str]
    answer: Any = None
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def verify(self, raw: bytes, headers: dict[str, str]) -> tuple[int, ...]:
        ok = []
        for index, secret in enumerate(self.secrets):
            try:
                Webhook(secret).verify(raw, headers)
                ok.append(index)
            except WebhookVerificationError:
                continue
        return tuple(ok)

    def delivered(self) -> list[Received]:
        """Requests answered with success in time: what the sender saw as delivered."""
        return [r for r in self.requests if r.verified_by and r.status < 300 and not r.stalled]


@contextmanager
def run_receiver(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            received = Received(headers["webhook-id"], headers, json.loads(raw),
                                receiver.verify(raw, headers))
            with receiver.lock:
                number = len(receiver.requests)
                receiver.requests.append(received)
            status, delay = (200, 0.0) if receiver.answer is None else receiver.answer(number)
            if not received.verified_by:
                status = 401
            received.status, received.stalled = status, delay > 0
            if delay:
                threading.Event().wait(delay)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)


def open_alert(engine: Engine, scope: str, when: datetime) -> dict[str, Any]:
    """A firing alert written directly, with an explanation the public schema accepts."""
    from sqlalchemy import select

    from pipeline.storage.alert_tables import AlertRow

    window = (when.replace(hour=(when.hour - 1) % 24), when)
    explanation = {
        "detector": "mad", "value": 0.7, "count": 12, "baseline_median": 0.1,
        "baseline_scale": 0.05, "baseline_windows": 24, "z": 12.0, "threshold": 3.0,
        "min_count": 5, "min_negative_share": 0.4, "window_start": window[0].isoformat(),
        "window_end": window[1].isoformat(), "top_items": [],
    }
    values = {
        "rule": "negative_spike", "scope": scope, "scope_kind": scope.split(":")[0],
        "state": "firing", "severity": "critical", "opened_at": when, "fired_at": when,
        "updated_at": when, "held_steps": 2, "clear_steps": 0, "window_start": window[0],
        "window_end": window[1], "value": 0.7, "baseline": 0.1, "z": 12.0,
        "explanation": explanation,
    }
    table = AlertRow.__table__
    with engine.begin() as conn:
        alert_id = conn.execute(insert(table).values(values).returning(table.c.id)).scalar_one()
        return dict(conn.execute(select(table).where(table.c.id == alert_id)).mappings().one())


def queue_notifications(engine: Engine, alert: dict[str, Any], count: int,
                        when: datetime) -> None:
    """`count` notifications of the alert, fanned out to every enabled endpoint."""
    from pipeline.alerting.outbox import OutboxAlert, enabled_endpoints, record_event

    with engine.begin() as conn:
        endpoints = enabled_endpoints(conn)
        for _ in range(count):
            record_event(conn, OutboxAlert.of_row(alert), "alert.repeat", when, endpoints)
