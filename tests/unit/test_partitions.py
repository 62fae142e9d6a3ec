"""Daily window partitions: which day holds a window, the span a step writes, and SQLite's
plain table (embedded mode) untouched by partition upkeep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, create_engine, func, insert, select
from sqlalchemy.pool import StaticPool

from pipeline.alerting.maintenance import apply_retention, prepare_partitions
from pipeline.alerting.rules import load_rules
from pipeline.alerting.scheduling import AlertScheduler, run_step
from pipeline.clock import SimulatedClock
from pipeline.settings import RetentionSettings, Settings, load_settings
from pipeline.storage.partitions import (
    create_partition_sql,
    days_between,
    drop_partitions_before,
    ensure_partitions,
    partition_day,
    partition_name,
    partition_of,
)
from pipeline.storage.tables import Base
from pipeline.storage.trend_tables import TrendWindow
from tests.integration.alert_fixtures import Stream

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine() -> Iterator[Engine]:
    import pipeline.storage.alert_tables  # noqa: F401 - registers the tables on Base

    memory = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    Base.metadata.create_all(memory)
    yield memory
    memory.dispose()


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        pytest.param(
            datetime(2026, 12, 1, tzinfo=UTC),
            date(2026, 12, 1),
            id="a window ending at midnight opens the new day",
        ),
        pytest.param(
            datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),
            date(2026, 11, 30),
            id="the last instant stays in its day",
        ),
        pytest.param(
            datetime(2026, 12, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
            date(2026, 11, 30),
            id="days are UTC days",
        ),
    ],
)
def test_partition_day(moment: datetime, day: date) -> None:
    assert partition_day(moment) == day


def test_partition_names_round_trip_and_bounds_are_utc_days() -> None:
    day = date(2014, 2, 28)
    assert partition_name(day) == "trend_windows_p20140228"
    assert partition_of(partition_name(day)) == day
    assert partition_of("trend_windows_old") is None, "foreign tables are never dropped"
    assert create_partition_sql("trend_windows", day).endswith(
        "FOR VALUES FROM ('2014-02-28T00:00:00+00:00') TO ('2014-03-01T00:00:00+00:00')"
    )


def test_days_between_covers_both_ends() -> None:
    lo, hi = datetime(2014, 2, 27, 23, tzinfo=UTC), datetime(2014, 3, 1, 0, tzinfo=UTC)
    assert days_between(lo, hi) == [date(2014, 2, 27), date(2014, 2, 28), date(2014, 3, 1)]


def settings(**overrides: object) -> Settings:
    return load_settings(database={"url": "sqlite://"}, **overrides)


@pytest.mark.parametrize(
    "config",
    [
        pytest.param({}, id="defaults: the baseline reaches furthest back"),
        pytest.param(
            {"trends": {"window_s": 60, "step_s": 30}, "events": {"lateness_horizon_s": 3600}},
            id="a lateness horizon longer than the baseline",
        ),
    ],
)
def test_a_step_writes_only_inside_its_written_span(
    engine: Engine, config: dict[str, object]
) -> None:
    conf = settings(**config)
    rules = load_rules(conf.alerts)
    stream = Stream(engine)
    stream.register_model(T0 - timedelta(days=3))
    for minutes in range(26 * 60):  # an item a minute over 26 hours, all classified at T0
        stream.add(T0 - timedelta(minutes=minutes), "ACME", "neutral", processed=T0)
    stream.flush()

    run_step(engine, conf, SimulatedClock(T0))

    lo, hi = AlertScheduler(conf, rules).written_span(T0)
    with engine.connect() as conn:
        oldest, newest = conn.execute(
            select(func.min(TrendWindow.window_end), func.max(TrendWindow.window_end))
        ).one()
    assert (oldest.replace(tzinfo=UTC), newest.replace(tzinfo=UTC)) == (lo, hi)


def test_sqlite_keeps_a_plain_table_and_its_row_retention(engine: Engine) -> None:
    stream = Stream(engine)
    stream.register_model(T0 - timedelta(days=30))
    stream.add(T0, "ACME", "neutral")
    stream.flush()
    ends = [T0 - timedelta(days=d) for d in range(6)]
    with engine.begin() as conn:
        conn.execute(
            insert(TrendWindow),
            [
                {
                    "scope": "market",
                    "window_end": end,
                    "window_start": end - timedelta(hours=1),
                    "scope_kind": "market",
                    "count": 1,
                    "sources": 1,
                    "negative": 0,
                    "positive": 0,
                    "negative_share": 0.0,
                    "positive_share": 0.0,
                    "mean_score": 0.0,
                    "reprint_adjusted": 1,
                    "model_version": "v1",
                    "computed_at": end,
                }
                for end in ends
            ],
        )

    assert prepare_partitions(engine) == []
    assert ensure_partitions(engine, T0, T0 + timedelta(days=3)) == []
    assert drop_partitions_before(engine, T0) == []
    removed = apply_retention(engine, RetentionSettings(windows_days=2), T0 + timedelta(days=300))

    assert removed["trend_windows"] == 3, "cutoff = newest event - 2 days, rows deleted"
