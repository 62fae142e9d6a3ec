"""The lifecycle transition, table-driven, and the backtest agreeing with live steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from pipeline.alerting.backtest import run_backtest
from pipeline.alerting.lifecycle import Change, OpenAlert, advance
from pipeline.alerting.rules import Rule, build_rule
from pipeline.alerting.scheduling import run_step
from pipeline.clock import SimulatedClock
from pipeline.settings import AlertSettings, load_settings
from pipeline.storage.alert_tables import AlertEventRow, AlertRow
from pipeline.storage.tables import Base
from tests.integration.alert_fixtures import Stream

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
RULE = build_rule({"name": "t"}, AlertSettings(), "test")


def alert(state: str, held: int = 1, clear: int = 0, notified: datetime | None = None) -> OpenAlert:
    return OpenAlert(1, state, held, clear, notified)


@pytest.mark.parametrize(
    ("current", "condition", "rule", "expected"),
    [
        pytest.param(None, False, RULE, None, id="quiet stays quiet"),
        pytest.param(None, True, RULE, Change("pending", 1, 0, "alert.pending"),
                     id="first true step opens a pending alert"),
        pytest.param(alert("pending"), True, RULE, Change("firing", 2, 0, "alert.firing"),
                     id="held for 2 steps: firing"),
        pytest.param(alert("pending"), False, RULE, Change("cancelled", 1, 1, "alert.cancelled"),
                     id="pending that does not hold is cancelled"),
        pytest.param(None, True, build_rule({"name": "t", "hold_steps": 1}, AlertSettings(), "t"),
                     Change("firing", 1, 0, "alert.firing"), id="hold 1 fires at once"),
        pytest.param(alert("firing", 5, 2, NOW - timedelta(hours=1)), True, RULE,
                     Change("firing", 6, 0, None), id="true again resets the clear count"),
        pytest.param(alert("firing", 5, 0, NOW - timedelta(hours=4)), True, RULE,
                     Change("firing", 6, 0, "alert.repeat"), id="repeat after 4 h"),
        pytest.param(alert("firing", 5, 0, NOW - timedelta(hours=1)), False, RULE,
                     Change("firing", 0, 1, None), id="first false step"),
        pytest.param(alert("firing", 0, 2, NOW - timedelta(hours=1)), False, RULE,
                     Change("resolved", 0, 3, "alert.resolved"), id="third false step resolves"),
    ],
)
def test_advance(current: OpenAlert | None, condition: bool, rule: Rule,
                 expected: Change | None) -> None:
    assert advance(current, condition, rule, NOW) == expected


def test_backtest_reports_what_the_live_steps_did() -> None:
    import pipeline.storage.trend_tables  # noqa: F401  - registers the tables on Base

    engine = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    settings = load_settings(database={"url": "sqlite://"}, trends={"step_s": 300})
    stream = Stream(engine)
    stream.register_model(NOW - timedelta(days=3))
    for minute in range(0, 26 * 60, 10):
        stream.add(NOW - timedelta(hours=26, minutes=-minute), "ACME", "neutral")
    stream.flush()
    clock = SimulatedClock(NOW)
    for n in range(24):
        if n in (1, 2):
            for k in range(12):
                stream.add(clock.now() - timedelta(seconds=5 * k + 1), "ACME", "negative")
            stream.flush()
        run_step(engine, settings, clock)
        clock.advance(timedelta(minutes=5))

    with Session(engine) as session:
        live = [
            (e.created_at, a.scope, e.event_type)
            for e, a in session.execute(
                select(AlertEventRow, AlertRow).join(AlertRow).order_by(AlertEventRow.id)
            ).tuples()
        ]
    replayed = [
        (e.at, e.scope, e.event)
        for e in run_backtest(engine, settings, NOW, NOW + timedelta(minutes=5 * 23))
    ]
    assert [x for x in live if x[1] == "ticker:ACME"] == [
        (NOW + timedelta(minutes=5), "ticker:ACME", "alert.pending"),
        (NOW + timedelta(minutes=10), "ticker:ACME", "alert.firing"),
        (NOW + timedelta(minutes=80), "ticker:ACME", "alert.resolved"),
    ]
    assert sorted(replayed) == sorted(live)


@pytest.mark.parametrize(
    ("inhibit", "ticker_alerts"),
    [
        pytest.param(True, set(), id="market alert mutes ticker alerts"),
        pytest.param(False, {f"ticker:S{n}" for n in range(8)}, id="no inhibition"),
    ],
)
def test_market_wide_spike_inhibits_ticker_alerts(inhibit: bool, ticker_alerts: set[str]) -> None:
    import pipeline.storage.trend_tables  # noqa: F401  - registers the tables on Base

    engine = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    Base.metadata.create_all(engine)
    settings = load_settings(database={"url": "sqlite://"}, trends={"step_s": 300},
                             alerts={"inhibit_tickers_by_market": inhibit})
    stream = Stream(engine)
    stream.register_model(NOW - timedelta(days=3))
    symbols = [f"S{n}" for n in range(8)]
    for minute in range(0, 26 * 60, 12):
        for symbol in symbols:
            stream.add(NOW - timedelta(hours=26, minutes=-minute), symbol, "neutral")
    stream.flush()
    clock = SimulatedClock(NOW)
    for n in range(4):
        if n in (1, 2):
            for symbol in symbols:
                for k in range(4):
                    stream.add(clock.now() - timedelta(seconds=k + 1), symbol, "negative")
            stream.flush()
        run_step(engine, settings, clock)
        clock.advance(timedelta(minutes=5))

    with Session(engine) as session:
        opened = {a.scope: a.state for a in session.scalars(select(AlertRow))}
    assert opened.get("market") == "firing"
    assert {s for s in opened if s.startswith("ticker:")} == ticker_alerts
