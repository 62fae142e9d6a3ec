"""Trend windows in daily partitions on the real PostgreSQL: the migration both ways with
rows kept, partitions made ahead and for replayed history, retention by whole days counted
from the newest event, and a scheduler step into a fresh month."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, insert, text

from pipeline.alerting.leader import LeaderLock
from pipeline.alerting.maintenance import apply_retention, prepare_partitions
from pipeline.alerting.scheduling import run_step
from pipeline.clock import SimulatedClock
from pipeline.settings import RetentionSettings, Settings, load_settings
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import alembic_config, downgrade, upgrade
from pipeline.storage.partitions import (
    ensure_partitions,
    partition_name,
    stored_partition_days,
)
from pipeline.storage.trend_tables import TrendWindow
from tests.integration.alert_fixtures import Stream

REVISION = "0007_partition_windows"
PREVIOUS = (
    ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision(REVISION).down_revision
)
REPLAYED = datetime(2014, 3, 3, 12, 0, tzinfo=UTC)


def day(text_: str) -> date:
    return date.fromisoformat(text_)


def days(first: str, last: str) -> set[date]:
    start, end = day(first), day(last)
    return {start + timedelta(days=n) for n in range((end - start).days + 1)}


def settings_for(url: str, **overrides: Any) -> Settings:
    return load_settings(
        database={"url": url}, trends={"window_s": 3600, "step_s": 300}, **overrides
    )


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    upgrade(pg_url)
    built = make_engine(settings_for(pg_url).database)
    yield built
    built.dispose()


def window_row(scope: str, end: datetime, count: int = 3) -> dict[str, Any]:
    return {
        "scope": scope,
        "window_end": end,
        "window_start": end - timedelta(hours=1),
        "scope_kind": scope.split(":")[0],
        "count": count,
        "sources": 1,
        "negative": 1,
        "positive": 1,
        "negative_share": 1 / count,
        "positive_share": 1 / count,
        "mean_score": 0.0,
        "reprint_adjusted": count,
        "model_version": "v1",
        "computed_at": end,
    }


def store_windows(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(TrendWindow), rows)


def stored_windows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(text("SELECT * FROM trend_windows ORDER BY scope, window_end"))
        ]


@dataclass(frozen=True)
class Shape:
    kind: str  # pg_class.relkind: 'p' partitioned, 'r' plain
    partitions: frozenset[str]
    constraints: frozenset[str]
    indexes: frozenset[str]
    public_select: bool


def shape(engine: Engine) -> Shape:
    with engine.connect() as conn:
        kind = conn.execute(
            text("SELECT relkind FROM pg_class WHERE oid = 'trend_windows'::regclass")
        ).scalar_one()
        parts = conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'trend_windows'::regclass"
            )
        ).scalars()
        constraints = conn.execute(
            text(
                "SELECT conname || ':' || pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = 'trend_windows'::regclass"
            )
        ).scalars()
        indexes = conn.execute(
            text(
                "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'trend_windows'::regclass"
            )
        ).scalars()
        public = conn.execute(
            text(
                "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid ="
                " 'trend_windows'::regclass AND a.grantee = 0 AND a.privilege_type = 'SELECT'"
            )
        ).scalar_one()
    return Shape(kind, frozenset(parts), frozenset(constraints), frozenset(indexes), public == 1)


KEY_AND_INDEX = frozenset({"pk_trend_windows:PRIMARY KEY (scope, window_end)"})
INDEXES = frozenset({"pk_trend_windows", "ix_trend_windows_window_end"})


def test_migration_keeps_rows_key_and_grants_both_ways(pg_url: str) -> None:
    upgrade(pg_url, PREVIOUS)
    engine = create_engine(pg_url)
    midnight = datetime(2026, 11, 30, tzinfo=UTC)
    ends = [REPLAYED, midnight - timedelta(seconds=30), midnight, midnight + timedelta(hours=5)]
    store_windows(engine, [window_row(s, e) for s in ("market", "ticker:ACME") for e in ends])
    with engine.begin() as conn:
        conn.execute(text("GRANT SELECT ON trend_windows TO PUBLIC"))
    before = stored_windows(engine)

    upgrade(pg_url, REVISION)
    partitioned = shape(engine)
    assert partitioned.kind == "p"
    assert partitioned.partitions == {
        "trend_windows_p20140303",
        "trend_windows_p20261129",
        "trend_windows_p20261130",
    }, "one partition per day that holds rows, midnight in the day it starts"
    assert (partitioned.constraints, partitioned.indexes) == (KEY_AND_INDEX, INDEXES)
    assert partitioned.public_select, "the grants survive the rebuild"
    assert stored_windows(engine) == before
    with engine.begin() as conn:  # the upsert's conflict target still names a unique key
        conn.execute(
            text(
                "INSERT INTO trend_windows SELECT * FROM trend_windows WHERE window_end = :end"
                " ON CONFLICT (scope, window_end) DO UPDATE SET count = EXCLUDED.count + 1"
            ),
            {"end": midnight},
        )
    after_upsert = stored_windows(engine)
    assert [(r["window_end"], r["count"]) for r in after_upsert if r not in before] == [
        (midnight, 4),
        (midnight, 4),
    ], "updated in place, not inserted twice"

    downgrade(pg_url, PREVIOUS)
    plain = shape(engine)
    assert (plain.kind, plain.partitions) == ("r", frozenset())
    assert (plain.constraints, plain.indexes) == (KEY_AND_INDEX, INDEXES)
    assert plain.public_select
    assert stored_windows(engine) == after_upsert
    upgrade(pg_url)
    assert shape(engine).kind == "p"
    engine.dispose()


def test_partitions_are_made_ahead_of_the_newest_event_and_for_replayed_history(
    engine: Engine,
) -> None:
    stream = Stream(engine)
    stream.register_model(datetime(2026, 11, 1, tzinfo=UTC))
    stream.add(datetime(2026, 11, 30, 22, 0, tzinfo=UTC), "ACME", "neutral")
    stream.flush()

    ahead = prepare_partitions(engine)
    replay = ensure_partitions(engine, REPLAYED - timedelta(days=2), REPLAYED)

    assert ahead == [partition_name(d) for d in sorted(days("2026-11-30", "2026-12-07"))]
    assert replay == [partition_name(d) for d in sorted(days("2014-03-01", "2014-03-03"))]
    with engine.connect() as conn:
        assert stored_partition_days(conn) == days("2026-11-30", "2026-12-07") | days(
            "2014-03-01", "2014-03-03"
        )
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    assert ensure_partitions(engine, REPLAYED - timedelta(days=1), REPLAYED) == []
    assert statements == [], "known partitions cost no query"


@pytest.mark.parametrize(
    ("keep_days", "partitions", "oldest"),
    [
        pytest.param(
            3,
            days("2014-02-28", "2014-03-03"),
            REPLAYED - timedelta(days=3),
            id="whole days before newest - 3 d dropped, the straddling day trimmed",
        ),
        pytest.param(
            90,
            days("2014-02-25", "2014-03-03"),
            datetime(2014, 2, 25, tzinfo=UTC),
            id="replayed 2014 history survives a 2026 wall clock",
        ),
    ],
)
def test_retention_drops_whole_days_counted_from_the_newest_event(
    engine: Engine, keep_days: int, partitions: set[date], oldest: datetime
) -> None:
    stream = Stream(engine)
    stream.register_model(REPLAYED - timedelta(days=30))
    stream.add(REPLAYED, "ACME", "neutral")
    stream.flush()
    first = datetime(2014, 2, 25, tzinfo=UTC)
    ends = [first + timedelta(hours=6 * k) for k in range(27)]  # 02-25 00:00 .. 03-03 12:00
    ensure_partitions(engine, ends[0], ends[-1])
    store_windows(engine, [window_row(s, e) for s in ("market", "topic:Macro") for e in ends])

    removed = apply_retention(
        engine, RetentionSettings(windows_days=keep_days), datetime(2026, 11, 30, tzinfo=UTC)
    )

    kept = [e for e in ends if e >= oldest]
    with engine.connect() as conn:
        assert stored_partition_days(conn) == partitions
        got = conn.execute(text("SELECT min(window_end), count(*) FROM trend_windows")).one()
    assert (got[0], got[1]) == (oldest, 2 * len(kept))
    trimmed = [e for e in ends if oldest.date() == e.date() and e < oldest]
    assert removed["trend_windows"] == 2 * len(trimmed), "rows deleted only in the straddling day"


def test_a_step_writes_windows_into_a_fresh_month(engine: Engine, pg_url: str) -> None:
    month = datetime(2014, 3, 1, tzinfo=UTC)
    stream = Stream(engine)
    stream.register_model(month - timedelta(days=3))
    for minute in range(0, 120, 4):  # the last two hours of February, then the first minutes
        stream.add(month - timedelta(hours=2) + timedelta(minutes=minute), "ACME", "neutral")
    stream.add(month + timedelta(minutes=2), "ACME", "negative")
    stream.flush()
    with engine.connect() as conn:
        assert stored_partition_days(conn) == set(), "no partition before the first step"
    clock, settings = SimulatedClock(month), settings_for(pg_url)

    run_step(engine, settings, clock)
    clock.advance(timedelta(minutes=5))
    run_step(engine, settings, clock)

    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT tableoid::regclass::text, window_end, count FROM trend_windows"
                " WHERE scope = 'ticker:ACME' ORDER BY window_end"
            )
        ).all()
    placed = {(end, where) for where, end, _ in rows}
    assert (month, "trend_windows_p20140301") in placed, "midnight opens the new month's day"
    assert (month + timedelta(minutes=5), "trend_windows_p20140301") in placed
    assert (month - timedelta(hours=1), "trend_windows_p20140228") in placed, "baseline window"
    assert all(where == partition_name(end.date()) for end, where in placed)
    assert rows[-1][2] == 14, "(23:05, 00:05] holds 13 calm items and the negative one"


def test_a_new_leader_rereads_partitions_another_process_dropped(engine: Engine) -> None:
    wanted = (REPLAYED, REPLAYED)
    assert ensure_partitions(engine, *wanted) == ["trend_windows_p20140303"]
    with engine.begin() as conn:  # what another leader's retention would do
        conn.execute(text("DROP TABLE trend_windows_p20140303"))
    assert ensure_partitions(engine, *wanted) == [], "the stale cache still claims it"

    lock = LeaderLock(engine)
    try:
        assert lock.ensure()
        assert ensure_partitions(engine, *wanted) == ["trend_windows_p20140303"]
    finally:
        lock.release()
