"""Window grid, window measures and incremental recomputation (embedded SQLite, in memory)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from pipeline.alerting.scheduling import due_steps, run_step
from pipeline.alerting.trends import baseline_ends, ceil_to, floor_to
from pipeline.clock import SimulatedClock
from pipeline.settings import Settings, load_settings
from pipeline.storage.tables import Base
from pipeline.storage.trend_tables import TrendStep, TrendWindow
from tests.integration.alert_fixtures import VERSION, Stream

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
STEP = timedelta(seconds=30)


@pytest.fixture
def engine() -> Iterator[Engine]:
    import pipeline.storage.alert_tables
    import pipeline.storage.trend_tables  # noqa: F401

    memory = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    event.listen(memory, "connect", lambda c, _r: c.execute("PRAGMA foreign_keys=ON"))
    Base.metadata.create_all(memory)
    yield memory
    memory.dispose()


def settings(**overrides: object) -> Settings:
    return load_settings(database={"url": "sqlite://"}, **overrides)


def windows(engine: Engine, end: datetime) -> dict[str, TrendWindow]:
    with Session(engine) as session:
        rows = session.scalars(select(TrendWindow).where(TrendWindow.window_end == end))
        return {row.scope: row for row in rows}


@pytest.mark.parametrize(
    ("moment", "seconds", "floor", "ceil"),
    [
        pytest.param(T0, 30, T0, T0, id="on the grid"),
        pytest.param(T0 + timedelta(seconds=1), 30, T0, T0 + STEP, id="just after"),
        pytest.param(T0 + timedelta(minutes=59), 3600, T0, T0 + timedelta(hours=1), id="hour"),
    ],
)
def test_grid(moment: datetime, seconds: int, floor: datetime, ceil: datetime) -> None:
    assert floor_to(moment, seconds) == floor
    assert ceil_to(moment, seconds) == ceil


def test_baseline_ends_are_hour_aligned_and_do_not_overlap_the_current_window() -> None:
    step_at = T0 + timedelta(minutes=20)
    ends = baseline_ends(step_at, 3600, 24)
    assert ends[0] == T0 - timedelta(hours=1), "the last one ends before step_at - W"
    assert ends[-1] == T0 - timedelta(hours=24)
    assert all(a - b == timedelta(hours=1) for a, b in itertools.pairwise(ends))


def test_window_measures(engine: Engine) -> None:
    stream = Stream(engine)
    stream.register_model(T0 - timedelta(days=1))
    at = T0 - timedelta(minutes=5)
    stream.add(at, "ACME", "negative", "Earnings")
    stream.add(at, "ACME", "negative", "Earnings")
    stream.items[-1]["content_hash"] = stream.items[-2]["content_hash"]  # a reprint
    stream.items[-1]["source"] = stream.items[-2]["source"]
    stream.add(at, "ACME", "positive", "Macro")
    stream.add(at, "ACME", "negative", "Macro", english=False)
    stream.add(T0 - timedelta(minutes=61), "ACME", "negative", "Macro")  # before the window
    stream.flush()
    run_step(engine, settings(), SimulatedClock(T0))

    got = windows(engine, T0)
    acme = got["ticker:ACME"]
    assert (acme.count, acme.negative, acme.positive) == (3, 2, 1), "German item left out"
    assert acme.negative_share == pytest.approx(2 / 3)
    assert acme.positive_share == pytest.approx(1 / 3)
    assert acme.sources == 2
    assert acme.reprint_adjusted == 2
    assert acme.mean_score == pytest.approx((2 * 0.85 * -0.8 + 0.85 * 0.8) / (3 * 0.85))
    assert acme.window_start == T0 - timedelta(hours=1)
    assert acme.model_version == VERSION
    assert got["market"].count == 3
    assert got["topic:Earnings"].count == 2
    assert got["topic:Macro"].count == 1


def test_non_english_counted_when_configured(engine: Engine) -> None:
    stream = Stream(engine)
    stream.register_model(T0 - timedelta(days=1))
    stream.add(T0 - timedelta(minutes=1), "ACME", "negative", english=False)
    stream.flush()
    run_step(engine, settings(events={"include_non_english": True}), SimulatedClock(T0))
    assert windows(engine, T0)["ticker:ACME"].count == 1


def test_late_items_update_open_baseline_windows_only(engine: Engine) -> None:
    stream = Stream(engine)
    stream.register_model(T0 - timedelta(days=1))
    stream.add(T0 - timedelta(minutes=30), "ACME", "neutral")
    stream.flush()
    clock = SimulatedClock(T0 - timedelta(minutes=20))
    config = settings()
    while clock.now() <= T0 + STEP:
        run_step(engine, config, clock)
        clock.advance(STEP)
    closed, aligned, sliding = T0 - timedelta(minutes=15), T0, T0 + STEP
    assert [windows(engine, end)["ticker:ACME"].count for end in (closed, aligned, sliding)] == [
        1, 1, 1,
    ]

    for end in (closed, aligned, sliding):
        stream.add(end - timedelta(seconds=5), "ACME", "negative", processed=clock.now())
    stream.flush()
    run_step(engine, config, clock)

    counts = [windows(engine, end)["ticker:ACME"].count for end in (closed, aligned, sliding)]
    assert counts == [1, 3, 1], "closed stays; open hour-aligned (baseline) window takes both"
    assert windows(engine, clock.now())["ticker:ACME"].count == 4, "current window has all"


def test_configured_model_version_is_the_one_counted(engine: Engine) -> None:
    stream = Stream(engine)
    stream.register_model(T0 - timedelta(days=1))
    stream.add(T0 - timedelta(minutes=1), "ACME", "negative")
    stream.flush()
    run_step(engine, settings(model={"current_version": "other"}), SimulatedClock(T0))
    assert windows(engine, T0) == {}


def test_steps_are_computed_once_and_in_order(engine: Engine) -> None:
    clock = SimulatedClock(T0 + timedelta(seconds=7))
    config = settings()
    first = run_step(engine, config, clock)
    assert first.steps == (T0,), "a fresh database starts at the current step"
    assert run_step(engine, config, clock).steps == (), "idempotent"
    clock.advance(timedelta(minutes=2))
    with engine.connect() as conn:
        assert due_steps(conn, 30, clock.now()) == [T0 + STEP * k for k in (1, 2, 3, 4)]
    assert run_step(engine, config, clock, max_steps=3).remaining == 1
    assert run_step(engine, config, clock).steps == (T0 + 4 * STEP,)
    with Session(engine) as session:
        kinds = {s.step_at: s.kind for s in session.scalars(select(TrendStep))}
    assert [at for at, kind in sorted(kinds.items()) if kind == "step"] == [
        T0 + STEP * k for k in range(5)
    ]
