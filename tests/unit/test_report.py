"""`finsent report` on the seeded SQLite database: honest about its input and its output."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine
from typer.testing import CliRunner

from pipeline.reporting.checks import ReportInputError, data_span, suggestions
from pipeline.reporting.queries import Period
from pipeline.reporting.report import build_report
from pipeline.scope import Scope
from tests.reporting_seed import DAY1, DAY2, seeded_sqlite
from workers.cli import app

START, END = DAY1 - timedelta(days=1), DAY2 + timedelta(days=1)
RANGE = ["--from", "2026-11-01T00:00:00Z", "--to", "2026-11-04T00:00:00Z"]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    seeded = seeded_sqlite(tmp_path)
    yield seeded
    seeded.dispose()


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        yield connection


@pytest.fixture
def cli(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FINSENT_DATABASE__URL", str(engine.url))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        pytest.param("topic:earnings", "did you mean 'Earnings'?", id="topic in the wrong case"),
        pytest.param("topic:Legal", "did you mean 'Legal | Regulation'?", id="topic cut short"),
        pytest.param("topic:Weather", "topics: Analyst Update,", id="no close topic: all listed"),
        pytest.param("ticker:ACMR", "did you mean 'ACME'", id="ticker typo"),
        pytest.param("ticker:ZZZZZZ", "unknown ticker 'ZZZZZZ'", id="unknown ticker"),
    ],
)
def test_unknown_scopes_are_refused_with_suggestions(
    conn: Connection, scope: str, message: str
) -> None:
    with pytest.raises(ReportInputError, match="unknown") as refused:
        build_report(conn, Scope.parse(scope), START, END)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param("topic:Earnings", id="topic with data"),
        pytest.param("topic:Dividend", id="label without data"),
        pytest.param("ticker:BETA", id="ticker in the data"),
        pytest.param("ticker:AAPL", id="ticker only in the company dictionary"),
    ],
)
def test_known_scopes_are_accepted(conn: Connection, scope: str) -> None:
    assert build_report(conn, Scope.parse(scope), START, END).scope == scope


@pytest.mark.parametrize(
    ("start", "end"),
    [pytest.param(END, START, id="reversed"), pytest.param(START, START, id="empty")],
)
def test_a_backward_range_is_refused(conn: Connection, start: object, end: object) -> None:
    with pytest.raises(ReportInputError, match="reversed or empty"):
        build_report(conn, Scope.parse("market"), start, end)  # type: ignore[arg-type]


def test_alerts_are_those_of_the_scope(conn: Connection) -> None:
    acme = build_report(conn, Scope.parse("ticker:ACME"), START, END)
    market = build_report(conn, Scope.parse("market"), START, END)
    assert ([a.alert_id for a in acme.alerts], acme.alerts_total) == ([1], 1)
    assert (market.alerts, market.alerts_total) == ([], 0)


@pytest.mark.parametrize(
    ("scope", "note"),
    [
        pytest.param(
            "ticker:ACME",
            "no data in range; ticker:ACME data spans 2026-11-02 10:05 to 2026-11-03 09:03 UTC",
            id="scope with data elsewhere",
        ),
        pytest.param(
            "ticker:AAPL",
            "no data in range; ticker:AAPL has no items at all;"
            " data spans 2026-11-02 10:05 to 2026-11-03 09:04 UTC",
            id="scope without any data",
        ),
    ],
)
def test_an_empty_range_says_where_the_data_is(conn: Connection, scope: str, note: str) -> None:
    empty = build_report(conn, Scope.parse(scope), END, END + timedelta(days=2))
    assert (empty.points, empty.notes) == ([], [note])
    full = build_report(conn, Scope.parse(scope), START, END)
    assert full.notes == ([] if full.points else [note])


def test_data_span_of_a_scope(conn: Connection) -> None:
    span = data_span(conn, Scope.parse("ticker:BETA"))
    assert span is not None
    assert (span.first, span.last) == (DAY1 + timedelta(minutes=20), DAY2 + timedelta(minutes=4))


@pytest.mark.parametrize(
    ("word", "known", "expected"),
    [
        pytest.param("markets", ["Markets", "Macro"], ["Markets"], id="case folded"),
        pytest.param("QQQQ", ["ACME", "BETA"], [], id="nothing close"),
    ],
)
def test_suggestions(word: str, known: list[str], expected: list[str]) -> None:
    assert suggestions(word, known) == expected


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param(["--scope", "topic:earning"], "did you mean 'Earnings'?", id="topic typo"),
        pytest.param(["--scope", "ticker:ACM"], "did you mean 'ACME'", id="ticker typo"),
        pytest.param(
            ["--from", "2026-11-04", "--to", "2026-11-01"], "reversed", id="reversed range"
        ),
        pytest.param(["--from", "yesterday"], "not a time: 'yesterday'", id="not a time"),
    ],
)
def test_cli_refuses_in_one_line_with_exit_2(
    cli: CliRunner, args: list[str], fragment: str
) -> None:
    result = cli.invoke(app, ["report", *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["--from", "7d"], id="days ago"),
        pytest.param(["--from", "36h", "--to", "1h"], id="hours ago both ends"),
    ],
)
def test_cli_accepts_relative_ranges(cli: CliRunner, args: list[str]) -> None:
    result = cli.invoke(app, ["report", *args])
    assert result.exit_code == 0, result.output
    assert "no data in range; market data spans 2026-11-02 10:05" in result.output


def test_cli_daily_from_mid_day_is_not_empty(cli: CliRunner) -> None:
    args = ["--from", "2026-11-02T10:30:00Z", "--to", "2026-11-04", "--period", "daily"]
    result = cli.invoke(app, ["report", "--scope", "ticker:ACME", *args])
    assert result.exit_code == 0, result.output
    assert "2026-11-02 00:00" in result.output
    assert "no data in range" not in result.output


def test_cli_says_how_many_movers_and_alerts_it_left_out(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("workers.report_cli.TABLE_ALERTS", 0)
    monkeypatch.setattr("pipeline.reporting.report.MOVER_LIMIT", 1)
    result = cli.invoke(app, ["report", "--scope", "ticker:ACME", *RANGE, "--min-items", "1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "+ 1 more alerts (not shown)" in text
    assert "+ 1 more movers (not shown)" in text
    assert "top movers on 2026-11-03 (≥ 1 items)" in text
    assert "ACME" in text.split("top movers")[1]


def test_cli_png_axis_stays_in_the_range_when_empty(cli: CliRunner, tmp_path: Path) -> None:
    args = ["--from", "2026-12-01", "--to", "2026-12-02", "--format", "png", "--out"]
    result = cli.invoke(app, ["report", *args, str(tmp_path / "png")])
    assert result.exit_code == 0, result.output
    assert "no data in range" in result.output
    charts = sorted(p.name for p in (tmp_path / "png").iterdir())
    assert charts == ["topics_market.png", "trend_market.png"]


@pytest.mark.parametrize(
    ("start", "end", "period", "notes"),
    [
        pytest.param(START, END, "daily", [], id="whole days"),
        pytest.param(
            DAY1 + timedelta(minutes=30),
            END,
            "daily",
            [
                "partial daily periods counted whole:"
                " the first (2026-11-02 00:00) starts before the range"
            ],
            id="starts mid-day",
        ),
        pytest.param(
            START,
            DAY2 + timedelta(minutes=30),
            "hourly",
            ["partial hourly periods counted whole: the last (2026-11-03 09:00) ends after it"],
            id="ends mid-hour",
        ),
    ],
)
def test_partial_periods_are_said(
    conn: Connection, start: datetime, end: datetime, period: Period, notes: list[str]
) -> None:
    assert build_report(conn, Scope.parse("market"), start, end, period).notes == notes
