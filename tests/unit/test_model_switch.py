"""Switching the current model version: a baseline of the current version only."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, insert, select
from sqlalchemy.pool import StaticPool

from pipeline.clock import SimulatedClock
from pipeline.scheduling import run_step
from pipeline.settings import Settings, load_settings
from pipeline.storage.tables import Base, ClassificationRow
from pipeline.storage.trend_tables import TrendWindow
from pipeline.trends import compute_windows, recompute_other_versions
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
    return load_settings(
        database={"url": "sqlite://"}, trends={"window_s": 3600, "step_s": 300}, model=model
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
    with engine.begin() as conn:
        assert recompute_other_versions(conn, settings(), OTHER, ends, T0) == [], "none stored"
        compute_windows(conn, settings(), VERSION, ends, T0)
    assert windows_at(engine, T0 - HOUR)["ticker:TINY"] == (VERSION, 1)
    with engine.begin() as conn:
        redone = recompute_other_versions(conn, settings(), OTHER, ends, T0)
        again = recompute_other_versions(conn, settings(), OTHER, ends, T0)
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
