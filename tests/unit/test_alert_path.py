"""One alert, followed through the calls: a scheduler step enters each alerting module once,
in the order of docs/architecture.md (windows → verdicts → lifecycle → explanations → alert
rows → outbox), and never calls back into an earlier stage."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from sqlalchemy import create_engine, select
from sqlalchemy.pool import StaticPool

from pipeline.alerting.rules import build_rule
from pipeline.alerting.scheduling import AlertScheduler
from pipeline.clock import SimulatedClock
from pipeline.settings import AlertSettings, load_settings
from pipeline.storage.alert_tables import AlertEventRow
from pipeline.storage.tables import Base
from tests.integration.alert_fixtures import Stream

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
STAGES = ["trends", "verdicts", "lifecycle", "explanations", "alert_rows", "outbox"]
# The orchestrator, and pure helpers a stage calls for its own work (SQL pieces, the detectors).
NOT_STAGES = {
    "scheduling", "detection", "count_evidence", "rules", "window_evidence", "trend_sql",
    "scope_sql",
}


def modules_entered(call: Callable[[], object]) -> list[str]:
    """The pipeline.alerting modules `call` enters, in order: one entry per call that crosses
    from another module."""
    entered: list[str] = []

    def profile(frame: FrameType, event: str, _arg: Any) -> None:
        if event != "call":
            return
        callee = frame.f_globals.get("__name__", "")
        caller = frame.f_back.f_globals.get("__name__", "") if frame.f_back else ""
        if callee.startswith("pipeline.alerting.") and callee != caller:
            entered.append(callee.removeprefix("pipeline.alerting."))

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return entered


def stage_order(entered: list[str]) -> list[str]:
    order: list[str] = []
    for module in entered:
        if module not in NOT_STAGES and (not order or order[-1] != module):
            order.append(module)
    return order


def test_one_alert_enters_each_stage_once_in_order() -> None:
    import pipeline.storage.trend_tables  # noqa: F401  - registers the tables on Base

    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    Base.metadata.create_all(engine)
    settings = load_settings(database={"url": "sqlite://"}, trends={"step_s": 300})
    rule = build_rule(
        {"name": "t", "hold_steps": 1, "scope_kinds": ["ticker"]}, AlertSettings(), "test"
    )
    steps = AlertScheduler(settings, [rule])
    stream = Stream(engine)
    stream.register_model(NOW - timedelta(days=3))
    for minute in range(0, 26 * 60, 10):
        stream.add(NOW - timedelta(hours=26, minutes=-minute), "ACME", "neutral")
    stream.flush()
    clock = SimulatedClock(NOW)
    steps.run(engine, clock)  # the first step backfills the baseline: not the one followed

    fired: list[str] | None = None
    for _ in range(4):
        clock.advance(timedelta(minutes=5))
        for k in range(12):
            stream.add(clock.now() - timedelta(seconds=5 * k + 1), "ACME", "negative")
        stream.flush()
        entered = modules_entered(lambda: steps.run(engine, clock))
        if events(engine):
            fired = entered
            break

    assert fired is not None, "the surge opened no alert: nothing was followed"
    assert events(engine) == ["alert.firing"]
    assert stage_order(fired) == STAGES


def test_the_order_check_sees_a_call_back_into_an_earlier_stage() -> None:
    back_and_forth = ["scheduling", "trends", "verdicts", "trends", "lifecycle", "explanations"]
    assert stage_order(back_and_forth) != STAGES[: len(stage_order(back_and_forth))]
    assert stage_order(["trends", "scope_sql", "trends", "verdicts"]) == ["trends", "verdicts"]


def events(engine: Any) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(AlertEventRow.event_type)).scalars())
