"""Switching the current model version: a baseline of the current version only, the span the
rule reads, the switch's plan and pin, and the scheduler's coverage guard."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, insert, select
from sqlalchemy.pool import StaticPool

from pipeline import alert_metrics
from pipeline.alerting.leader import LeaderLock
from pipeline.alerting.model_switch import (
    CoverageGuard,
    PinnedVersion,
    plan_switch,
    read_span_start,
    refuse_pinned,
)
from pipeline.alerting.rules import load_rules
from pipeline.alerting.scheduling import AlertScheduler, run_step
from pipeline.alerting.trends import WindowSpec, compute_windows, recompute_other_versions
from pipeline.clock import SimulatedClock
from pipeline.consumer.reclassify import TimeRange
from pipeline.settings import Settings, load_settings
from pipeline.storage.tables import Base, ClassificationRow
from pipeline.storage.trend_tables import TrendWindow
from tests.integration.alert_fixtures import PROBS, VERSION, Stream

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
OTHER = "model-b"


@pytest.fixture
def engine() -> Iterator[Engine]:
    import pipeline.storage.alert_tables
    import pipeline.storage.trend_tables  # noqa: F401

    memory = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    Base.metadata.create_all(memory)
    yield memory
    memory.dispose()


def settings(**model: str) -> Settings:
    return load_settings(  # ACME is not a dictionary symbol: judge it at any volume
        database={"url": "sqlite://"}, trends={"window_s": 3600, "step_s": 300}, model=model,
        alerts={"min_count_unlisted": 0},
    )


def calm_day(engine: Engine, hours: int = 26) -> Stream:
    """Six neutral ACME items an hour, off the hour, up to T0, scored by VERSION."""
    stream = Stream(engine)
    stream.register_model(T0 - timedelta(days=2))
    for n in range(hours * 6):
        stream.add(T0 - timedelta(hours=hours, minutes=-5) + n * timedelta(minutes=10), "ACME",
                   "neutral")
    stream.flush()
    return stream


def score_as(
    engine: Engine, version: str, sentiment: str, since: datetime, until: datetime | None = None
) -> None:
    """Rows of `version` for the items in (since, until], all with `sentiment`."""
    c = ClassificationRow.__table__.c
    span = [c.event_time > since] + ([c.event_time <= until] if until else [])
    with engine.begin() as conn:
        rows = conn.execute(
            select(c.item_id, c.event_time, c.processed_at).where(
                c.model_version == VERSION, *span
            )
        ).all()
        neg, neu, pos = PROBS[sentiment]
        conn.execute(insert(ClassificationRow), [
            {"item_id": r.item_id, "model_version": version, "topic": "Markets",
             "topic_confidence": 0.9, "sentiment": sentiment, "p_negative": neg,
             "p_neutral": neu, "p_positive": pos, "score": pos - neg,
             "event_time": r.event_time, "processed_at": r.processed_at}
            for r in rows
        ])


def windows_at(engine: Engine, end: datetime) -> dict[str, tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(TrendWindow.scope, TrendWindow.model_version, TrendWindow.count).where(
                TrendWindow.window_end == end
            )
        ).all()
    return {scope: (version, count) for scope, version, count in rows}


def test_windows_of_another_version_are_recomputed_and_its_leftovers_dropped(
    engine: Engine,
) -> None:
    stream = calm_day(engine, hours=3)
    score_as(engine, OTHER, "negative", T0 - 2 * HOUR)
    stream.add(T0 - timedelta(minutes=90), "TINY", "neutral")  # B has not scored it
    stream.flush()
    ends = [T0 - HOUR, T0]
    config = settings()
    spec = WindowSpec.of(config.trends, config.events)
    with engine.begin() as conn:
        assert recompute_other_versions(conn, spec, OTHER, ends, T0) == [], "none stored"
        compute_windows(conn, spec, VERSION, ends, T0)
    assert windows_at(engine, T0 - HOUR)["ticker:TINY"] == (VERSION, 1)
    with engine.begin() as conn:
        redone = recompute_other_versions(conn, spec, OTHER, ends, T0)
        again = recompute_other_versions(conn, spec, OTHER, ends, T0)
    assert redone == [T0 - HOUR, T0]
    assert again == [], "nothing left to redo: no work at the next step"
    assert windows_at(engine, T0 - HOUR) == {"market": (OTHER, 6), "ticker:ACME": (OTHER, 6),
                                             "topic:Markets": (OTHER, 6)}


@pytest.mark.parametrize(
    ("baseline_rescored", "verdict"),
    [
        pytest.param(True, "spike", id="baseline rescored: fires at once"),
        pytest.param(False, "warming_up", id="only the surge rescored: warms up"),
    ],
)
def test_a_step_on_a_new_version_reads_that_version_s_baseline_only(
    engine: Engine, baseline_rescored: bool, verdict: str
) -> None:
    stream = calm_day(engine)
    assert run_step(engine, settings(), SimulatedClock(T0)).statuses["ticker:ACME"] == "quiet"
    for k in range(15):
        stream.add(T0 + timedelta(seconds=10 * k + 5), "ACME", "negative")
    stream.flush()
    if baseline_rescored:
        score_as(engine, OTHER, "neutral", T0 - 26 * HOUR, T0)
    score_as(engine, OTHER, "negative", T0)

    clock = SimulatedClock(T0 + timedelta(minutes=5))
    step = run_step(engine, settings(current_version=OTHER), clock)

    assert step.statuses["ticker:ACME"] == verdict


@pytest.mark.parametrize(
    ("step_at", "window_s", "windows", "start"),
    [
        pytest.param(T0, 3600, 24, T0 - 25 * HOUR, id="step on the hour"),
        pytest.param(T0 + timedelta(minutes=20), 3600, 24, T0 - 25 * HOUR, id="mid-hour"),
        pytest.param(
            T0 + timedelta(minutes=5), 600, 2, T0 - timedelta(minutes=30), id="K=2, 10 min"
        ),
    ],
)
def test_the_span_a_step_reads_starts_at_its_oldest_baseline_window(
    step_at: datetime, window_s: int, windows: int, start: datetime
) -> None:
    assert read_span_start(step_at, window_s, windows) == start


@pytest.mark.parametrize(
    ("pinned", "refused"),
    [
        pytest.param(None, False, id="nothing pinned"),
        pytest.param(OTHER, False, id="the pin names the new version"),
        pytest.param(VERSION, True, id="the pin names another version"),
    ],
)
def test_a_pin_on_another_version_refuses_the_switch(pinned: str | None, refused: bool) -> None:
    config = settings(current_version=pinned) if pinned else settings()
    if not refused:
        refuse_pinned(config, OTHER)
        return
    with pytest.raises(PinnedVersion, match=f"pins model {VERSION}: unset it to switch to {OTHER}"):
        refuse_pinned(config, OTHER)


def test_the_plan_counts_back_from_the_newest_stored_event_not_the_clock(
    engine: Engine,
) -> None:
    calm_day(engine)
    config = settings()
    with engine.connect() as conn:
        plan = plan_switch(conn, config, load_rules(config.alerts), OTHER)
    newest = T0 - timedelta(minutes=5)
    assert (plan.old, plan.new, plan.newest_event) == (VERSION, OTHER, newest)
    start = T0 - 26 * HOUR  # the newest event's step lies in the hour before T0
    assert plan.span == TimeRange(start), "open-ended: items stored meanwhile count"
    assert plan.summary(7) == [
        f"rescored 7 items with model {OTHER}",
        f"span: events from {start:%Y-%m-%dT%H:%M:%S+00:00} to the newest,"
        f" {newest:%Y-%m-%dT%H:%M:%S+00:00} (the 24 baseline windows and the current window"
        " the spike rule reads)",
        f"current model version: {VERSION} -> {OTHER}",
    ]


def test_a_switch_of_an_empty_database_rescores_nothing(engine: Engine) -> None:
    config = settings()
    with engine.connect() as conn:
        plan = plan_switch(conn, config, load_rules(config.alerts), OTHER)
    assert (plan.old, plan.span) == (None, TimeRange())
    assert plan.summary(0)[1:] == ["span: no stored items", f"current model version: none -> {OTHER}"]


def test_the_guard_warns_once_per_version_and_baseline_hour(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    calm_day(engine)
    score_as(engine, OTHER, "neutral", T0 - 2 * HOUR)  # only the last two hours
    config = settings(current_version=OTHER)
    rules = load_rules(config.alerts)
    guard = CoverageGuard()
    with caplog.at_level(logging.WARNING, logger="pipeline.alerting.model_switch"):
        first = guard.check(engine, config, rules, T0)
        gauge = alert_metrics.SCHEDULER.get_sample_value("finsent_scheduler_unscored_items")
        again = guard.check(engine, config, rules, T0 + timedelta(minutes=30))
        next_hour = guard.check(engine, config, rules, T0 + HOUR)
    assert first is not None
    assert (first.version, first.items, first.rows, first.gap) == (OTHER, 150, 12, 138)
    assert gauge == 138
    assert again is None, "asked once per baseline hour"
    assert next_hour is not None
    assert next_hour.gap == 144 - 12, "the span moved on by an hour"
    warnings = [r.getMessage() for r in caplog.records if r.name == "pipeline.alerting.model_switch"]
    assert len(warnings) == 2
    assert warnings[0].startswith(f"model version {OTHER} lacks rows for 138 of the 150 items")


def test_the_guard_is_quiet_when_the_current_version_covers_the_span(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    calm_day(engine)
    config = settings()
    with caplog.at_level(logging.WARNING, logger="pipeline.alerting.model_switch"):
        found = CoverageGuard().check(engine, config, load_rules(config.alerts), T0)
    assert found is not None
    assert (found.version, found.gap) == (VERSION, 0)
    assert alert_metrics.SCHEDULER.get_sample_value("finsent_scheduler_unscored_items") == 0
    assert not [r for r in caplog.records if r.name == "pipeline.alerting.model_switch"]


def test_the_live_scheduler_asks_the_guard_at_its_tick(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    from workers.scheduler import tick

    calm_day(engine)
    config = settings(current_version=OTHER)
    with caplog.at_level(logging.WARNING, logger="pipeline.alerting.model_switch"):
        tick(engine, config, AlertScheduler(config), LeaderLock(engine), SimulatedClock(T0),
             CoverageGuard())
    warnings = [r.getMessage() for r in caplog.records if r.name == "pipeline.alerting.model_switch"]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"model version {OTHER} lacks rows for 150 of the 150 items")
