"""Reporting on the real PostgreSQL: views, the docs' queries, the read-only role, up/down."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import ProgrammingError

from pipeline.clock import SimulatedClock
from pipeline.reporting.alert_history import alert_window_items
from pipeline.reporting.checks import ReportInputError
from pipeline.reporting.queries import (
    sentiment_series,
    top_movers,
)
from pipeline.reporting.report import build_report
from pipeline.scope import Scope
from pipeline.storage.migrate import alembic_config
from pipeline.storage.model_version import current_model_version, publish_current_model
from pipeline.storage.roles import create_reporting_role
from tests.reporting_seed import DAY1, DAY2, OLD, seed

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reporting.md"
SQL_BLOCK = re.compile(r"```sql\n(.*?)```", re.DOTALL)


@pytest.fixture
def role() -> str:
    return f"rep_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def engine(pg_url: str, role: str) -> Iterator[Engine]:
    """A seeded database whose reporting role existed before the migrations ran."""
    engine = create_engine(pg_url)
    assert create_reporting_role(engine, role) is True
    with engine.begin() as conn:
        # Lets this test's connection SET ROLE to it (CREATEROLE alone does not).
        conn.execute(text(f'GRANT "{role}" TO CURRENT_USER'))
    config = alembic_config(pg_url)
    config.attributes["reporting_role"] = role
    command.upgrade(config, "head")
    seed(engine)
    publish_current_model(engine, OLD, SimulatedClock(DAY2))
    yield engine
    # Pooled connections may still act as the role (SET ROLE lasts for the session): close
    # them all, then drop the role from a fresh connection that never switched.
    engine.dispose()
    with engine.begin() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
    engine.dispose()


def _as_role(conn: Connection, role: str) -> None:
    conn.execute(text(f'SET ROLE "{role}"'))


def test_views_match_the_hand_checked_numbers(engine: Engine) -> None:
    with engine.connect() as conn:
        assert current_model_version(conn) == OLD
        hourly = sentiment_series(conn, Scope.parse("market"), DAY1, DAY2 + timedelta(hours=1))
        daily = sentiment_series(
            conn,
            Scope.parse("ticker:ACME"),
            DAY1 - timedelta(days=1),
            DAY2 + timedelta(days=1),
            "daily",
        )
        movers = top_movers(conn, DAY2, min_items=1)
    assert [(p.bucket, p.items, p.negative, p.distinct_items) for p in hourly] == [
        (DAY1, 4, 0, 4),
        (DAY2, 4, 3, 3),
    ]
    assert [(p.items, round(p.mean_score, 3)) for p in daily] == [(2, 0.0), (3, -0.9)]
    assert [(m.symbol, m.mover_rank) for m in movers] == [("ACME", 1), ("BETA", 2)]


def test_an_honest_report_as_the_reporting_role(engine: Engine, role: str) -> None:
    with engine.connect() as conn:
        _as_role(conn, role)
        mid_day = build_report(
            conn, Scope.parse("ticker:ACME"), DAY1 + timedelta(minutes=30), DAY2, "daily"
        )
        empty = build_report(
            conn, Scope.parse("ticker:ACME"), DAY2 + timedelta(days=2), DAY2 + timedelta(days=3)
        )
        page = alert_window_items(conn, 1, limit=2)
        with pytest.raises(ReportInputError, match="did you mean 'Earnings'"):
            build_report(conn, Scope.parse("topic:earnings"), DAY1, DAY2)
    assert [p.items for p in mid_day.points] == [2, 3]  # both days overlap the range
    assert [a.alert_id for a in mid_day.alerts] == []
    assert empty.notes == [
        "no data in range; ticker:ACME data spans 2026-11-02 10:05 to 2026-11-03 09:03 UTC"
    ]
    assert page is not None
    assert (page.total, [i.item_id for i in page.items]) == (3, ["a5", "a4"])


def test_the_documented_queries_run_as_the_reporting_role(engine: Engine, role: str) -> None:
    queries = SQL_BLOCK.findall(DOCS.read_text())
    assert len(queries) >= 8
    with engine.connect() as conn:
        _as_role(conn, role)
        for query in queries:
            rows = conn.execute(text(query)).all()
            assert rows, f"no rows from:\n{query}"


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("INSERT INTO settings_kv VALUES ('x', 'y', now())", id="insert"),
        pytest.param("UPDATE alerts SET state = 'resolved'", id="update"),
        pytest.param("DELETE FROM news_items", id="delete"),
        pytest.param("SELECT secret FROM webhook_endpoints", id="read secrets"),
        pytest.param("CREATE TABLE mine (x int)", id="create"),
    ],
)
def test_the_reporting_role_cannot_write_or_read_secrets(
    engine: Engine, role: str, statement: str
) -> None:
    with engine.connect() as conn:
        _as_role(conn, role)
        assert conn.execute(text("SELECT count(*) FROM alert_history")).scalar_one() == 1
        with pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text(statement))


def test_create_roles_is_idempotent(engine: Engine, role: str) -> None:
    assert create_reporting_role(engine, role) is False
    with engine.connect() as conn:
        _as_role(conn, role)
        assert conn.execute(text("SELECT count(*) FROM scored_items")).scalar_one() == 8


def test_reporting_migration_downgrades_and_upgrades(
    engine: Engine, pg_url: str, role: str
) -> None:
    config = alembic_config(pg_url)
    config.attributes["reporting_role"] = role
    command.downgrade(config, "0002_alerts")
    with engine.connect() as conn:
        views = conn.execute(text("SELECT count(*) FROM pg_views WHERE schemaname = 'public'"))
        assert views.scalar_one() == 0
    command.upgrade(config, "head")
    with engine.connect() as conn:
        _as_role(conn, role)
        # The migration granted again on the recreated views because the role exists.
        assert (
            conn.execute(text("SELECT count(*) FROM sentiment_by_market_daily")).scalar_one() == 2
        )
