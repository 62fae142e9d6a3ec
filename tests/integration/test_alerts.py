"""Acceptance: a scripted day on the simulated clock fires and resolves exactly one alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from pipeline.alerting.scheduling import StepReport, run_step
from pipeline.clock import SimulatedClock, WallClock
from pipeline.delivery.endpoints import add_endpoint
from pipeline.delivery.notifier import deliver_due
from pipeline.delivery.webhooks import new_secret
from pipeline.settings import Settings, load_settings
from pipeline.storage.alert_tables import AlertRow, WebhookEndpointRow
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import upgrade
from tests.integration.alert_fixtures import Received, Receiver, Stream, hour_floor, run_receiver

STEP = timedelta(minutes=5)
FILLERS = ("FILA", "FILB", "FILC", "FILD")
TOPICS = ("Markets", "Earnings", "Macro", "Dividend")


def settings_for(url: str) -> Settings:
    return load_settings(
        database={"url": url},
        trends={"window_s": 3600, "step_s": 300},
        # the script's symbols are not in the company dictionary: judge them at any volume
        alerts={"inhibit_tickers_by_market": False, "min_count_unlisted": 0},
        webhooks={"allow_private_targets": True, "backoff_base_s": 0.01, "backoff_max_s": 0.05},
    )


def script_baseline(stream: Stream, start: datetime) -> None:
    """26 h of calm: ACME 6/h, fillers 5/h each, TINY one every 2 h, NEWCO only the last 3 h."""
    for minute in range(0, 26 * 60, 10):
        when = start - timedelta(hours=26) + timedelta(minutes=minute)
        stream.add(when, "ACME", "neutral", TOPICS[minute % 4])
        if minute % 12 == 0:
            for n, symbol in enumerate(FILLERS):
                mood = "positive" if (minute + n) % 3 == 0 else "neutral"
                stream.add(when, symbol, mood, TOPICS[n])
        if minute % 120 == 0:
            stream.add(when, "TINY", "neutral", "Markets")
        if minute >= 23 * 60 and minute % 20 == 0:
            stream.add(when, "NEWCO", "neutral", "Markets")
    stream.flush()


def script_burst(stream: Stream, now: datetime) -> list[str]:
    headlines = []
    for k in range(12):  # twice ACME's hourly volume: abnormal attention (docs/spike-rule.md)
        when = now - timedelta(seconds=10 * k + 5)
        headlines.append(stream.add(when, "ACME", "negative", TOPICS[k % 4]))
        stream.add(when, "NEWCO", "negative", TOPICS[k % 4])
    stream.add(now - timedelta(seconds=7), "TINY", "negative", "Markets")
    stream.flush()
    return headlines


def test_scripted_burst_fires_once_and_resolves(pg_url: str) -> None:
    upgrade(pg_url)
    settings = settings_for(pg_url)
    engine = make_engine(settings.database)
    start = hour_floor(datetime.now(UTC)) - timedelta(hours=4)
    clock = SimulatedClock(start)
    stream = Stream(engine)
    stream.register_model(start - timedelta(days=2))
    script_baseline(stream, start)
    secret = new_secret()
    add_endpoint(engine, settings.webhooks, "desk", "http://127.0.0.1:9/x", start,
                 scope_kinds=["ticker"], secret=secret)

    reports: list[StepReport] = []
    burst: list[str] = []
    for n in range(24):
        if n in (1, 2):
            burst += script_burst(stream, clock.now())
        reports.append(run_step(engine, settings, clock))
        clock.advance(STEP)

    assert [len(r.steps) for r in reports] == [1] * 24, "one step per call, none skipped"
    assert reports[1].statuses["ticker:ACME"] == "spike"
    assert reports[2].statuses["ticker:NEWCO"] == "warming_up"
    assert reports[2].statuses["ticker:TINY"] == "below_minimum"
    assert reports[0].statuses["ticker:ACME"] == "quiet"

    with Session(engine) as session:
        alerts = session.scalars(select(AlertRow).where(AlertRow.scope_kind == "ticker"))
        by_scope = {a.scope: a for a in alerts}
    assert set(by_scope) == {"ticker:ACME"}
    acme = by_scope["ticker:ACME"]
    assert acme.state == "resolved"
    assert acme.opened_at == start + STEP
    assert acme.fired_at == start + 2 * STEP, "held for 2 steps"

    received = deliver_all(engine, settings, secret)
    assert {r.body["data"]["scope"] for r in received} == {"ticker:ACME"}
    ids_by_type: dict[str, set[str]] = {}
    for r in received:
        ids_by_type.setdefault(r.body["type"], set()).add(r.webhook_id)
    assert {t: len(ids) for t, ids in ids_by_type.items()} == {
        "alert.firing": 1, "alert.resolved": 1,
    }
    firing = next(r.body for r in received if r.body["type"] == "alert.firing")
    check_explanation(firing["data"], start + 2 * STEP, burst)


def deliver_all(engine: Engine, settings: Settings, secret: str) -> list[Received]:
    with run_receiver(Receiver([secret])) as receiver:
        with engine.begin() as conn:
            conn.execute(update(WebhookEndpointRow).values(url=receiver.url))
        with httpx.Client() as client:
            while deliver_due(engine, settings.webhooks, WallClock(), client).claimed:
                pass
        return receiver.delivered()


def check_explanation(data: dict[str, Any], fired_at: datetime, burst: list[str]) -> None:
    why = data["explanation"]
    assert data["severity"] == "critical"
    assert why["detector"] == "count"
    assert why["baseline_median"] == pytest.approx(0.5 / (144 + 20 + 1)), "no negatives: floor"
    assert why["count"] == 28, "4 calm ACME items in (fired - 1 h, start] + 24 negative ones"
    assert why["value"] == 24 / 28
    assert why["evidence"]["negative"] == 24
    assert why["evidence"]["expected_count"] == pytest.approx((144 + 1) / 25)
    assert why["z"] >= 5
    assert why["threshold"] == 3.0
    assert why["min_count"] == 5
    assert why["baseline_windows"] == 24
    assert datetime.fromisoformat(why["window_end"]) == fired_at
    assert datetime.fromisoformat(why["window_start"]) == fired_at - timedelta(hours=1)
    tops = why["top_items"]
    assert len(tops) == 5
    assert all(t["headline"] in burst and t["score"] < 0 for t in tops)
    assert all(t["source"].startswith("source-") and t["url"].startswith("https://") for t in tops)


def test_postgres_window_statement_matches_the_portable_one(pg_url: str) -> None:
    from pipeline.alerting.trends import WindowSpec, compute_windows, compute_windows_portable
    from pipeline.storage.partitions import ensure_partitions
    from pipeline.storage.trend_tables import TrendWindow

    upgrade(pg_url)
    settings = settings_for(pg_url)
    engine = make_engine(settings.database)
    start = hour_floor(datetime.now(UTC))
    stream = Stream(engine)
    stream.register_model(start - timedelta(days=2))
    script_baseline(stream, start)
    script_burst(stream, start + timedelta(minutes=3))
    stream.add(start - timedelta(minutes=2), "ACME", "negative", english=False)
    for k in range(6):  # near-duplicates from one source, spam naming ACME among many
        stream.add(start - timedelta(minutes=k + 1), "ACME", "negative", copy_of="bot-text")
        stream.add(start - timedelta(minutes=k + 1), "NEWCO", "positive" if k % 2 else "negative",
                   copy_of="bot-text")
        stream.add(start - timedelta(minutes=k + 1), "ACME", "negative", relevance=1 / 5.5)
    stream.flush()
    ends = [start - timedelta(hours=h) for h in range(4)] + [start + timedelta(minutes=5)]
    ensure_partitions(engine, min(ends), max(ends))  # what a scheduler step does first

    def snapshot(compute: Any) -> dict[tuple[str, datetime], tuple[Any, ...]]:
        with engine.begin() as conn:
            conn.execute(TrendWindow.__table__.delete())
            compute(conn, WindowSpec.of(settings.trends, settings.events), "test-model-v1", ends,
                    start)
        with Session(engine) as session:
            return {
                (w.scope, w.window_end): (
                    w.window_start, w.scope_kind, w.count, w.sources, w.negative, w.positive,
                    w.negative_share, w.positive_share, round(w.mean_score or 0, 12),
                    w.reprint_adjusted, round(w.evidence, 12), round(w.negative_evidence, 12),
                )
                for w in session.scalars(select(TrendWindow))
            }

    fast, reference = snapshot(compute_windows), snapshot(compute_windows_portable)
    assert len(reference) > 30
    assert fast == reference
    acme = reference[("ticker:ACME", start)]
    assert acme[-2:] == (pytest.approx(5 + 1 + 6 / 5.5), pytest.approx(1 + 6 / 5.5)), (
        "calm ones, the copies once, the spam by relevance"
    )
