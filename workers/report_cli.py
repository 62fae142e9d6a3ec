"""`finsent report` (tables, CSV, JSON, PNG) and `finsent db create-roles`."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.reporting.queries import MOVER_MIN_ITEMS
from pipeline.reporting.report import Report
from pipeline.settings import Settings

TABLE_ALERTS = 20


class Period(StrEnum):
    hourly = "hourly"
    daily = "daily"


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    png = "png"


@dataclass(frozen=True)
class ReportRequest:
    """What `finsent report` was asked for, as typed on the command line."""

    start: str | None
    end: str | None
    scope: str
    period: Period
    fmt: Format
    out: Path
    min_items: int


def report(
    start: Annotated[
        str | None,
        typer.Option("--from", help="Start: ISO-8601 (UTC unless offset given) or 7d/36h ago"),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="End (exclusive): ISO-8601 or 2h ago; default now")
    ] = None,
    scope: Annotated[str, typer.Option(help="market | topic:<name> | ticker:<SYM>")] = "market",
    period: Annotated[Period, typer.Option(help="Bucket length")] = Period.hourly,
    fmt: Annotated[Format, typer.Option("--format", help="Output")] = Format.table,
    out: Annotated[Path, typer.Option(help="Directory for PNG charts")] = Path("finsent-out"),
    min_items: Annotated[
        int, typer.Option("--min-items", min=1, help="Items a ticker needs on a day to be a mover")
    ] = MOVER_MIN_ITEMS,
) -> None:
    """Sentiment of a scope over a time range, its topic mix, alerts and top movers."""
    from workers.invocation import console, friendly_errors, settings

    request = ReportRequest(start, end, scope, period, fmt, out, min_items)
    friendly_errors(_report)(settings(), console, request)


def _period(period: Period) -> Literal["hourly", "daily"]:
    return "daily" if period is Period.daily else "hourly"


def _report(loaded: Settings, console: Console, request: ReportRequest) -> None:
    from pipeline.reporting.report import build_report, write_charts
    from pipeline.scope import Scope
    from pipeline.storage.db import open_database
    from workers.stream_cli import parse_moment

    hi = parse_moment(request.end) if request.end else datetime.now(UTC)
    lo = parse_moment(request.start) if request.start else hi - timedelta(days=2)
    scope = Scope.parse(request.scope)
    engine = open_database(loaded.database)
    try:
        with engine.connect() as conn:
            built = build_report(conn, scope, lo, hi, _period(request.period), request.min_items)
    finally:
        engine.dispose()
    if request.fmt is Format.json:
        console.print_json(built.model_dump_json())
        return
    if request.fmt is not Format.table:
        from workers.invocation import err_console

        for note in built.notes:
            err_console.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    if request.fmt is Format.csv:
        console.print(report_csv(built), end="", markup=False, highlight=False, soft_wrap=True)
    elif request.fmt is Format.png:
        for path in write_charts(built, request.out):
            console.print(f"wrote {path}", highlight=False)
    else:
        print_report(console, built)


def report_csv(built: Report) -> str:
    """The series as CSV: one row per bucket."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = ["bucket", "items", "distinct_items", "sources", "negative", "neutral", "positive"]
    writer.writerow(["scope", *columns, "negative_share", "mean_score"])
    for p in built.points:
        values = [getattr(p, c) for c in columns]
        values[0] = p.bucket.isoformat()
        writer.writerow([built.scope, *values, f"{p.negative_share:.4f}", f"{p.mean_score:.4f}"])
    return buffer.getvalue()


def print_report(console: Console, built: Report) -> None:
    """The report as rich tables: series, topic mix, alerts, movers."""
    console.print(
        f"[bold]{built.scope}[/] {built.start:%Y-%m-%d %H:%M} → {built.end:%Y-%m-%d %H:%M} UTC"
        f" · model {built.model_version or '(none)'}"
    )
    series = Table(title=f"{built.period} sentiment")
    for column in ("bucket (UTC)", "items", "sources", "negative", "neg. share", "mean score"):
        series.add_column(column, justify="right")
    for p in built.points:
        series.add_row(
            f"{p.bucket:%Y-%m-%d %H:%M}",
            str(p.items),
            str(p.sources),
            str(p.negative),
            f"{p.negative_share:.0%}",
            f"{p.mean_score:+.2f}",
        )
    for note in built.notes:
        console.print(f"[yellow]{escape(note)}[/]")
    if built.points:
        console.print(series)
    console.print(_topics_table(built))
    console.print(_alerts_table(built))
    _more(console, built.alerts_total, min(len(built.alerts), TABLE_ALERTS), "alerts")
    console.print(_movers_table(built))
    _more(console, built.movers_total, len(built.movers), "movers")


def _more(console: Console, total: int, shown: int, what: str) -> None:
    if total > shown:
        console.print(f"+ {total - shown} more {what} (not shown)", highlight=False)


def _movers_table(built: Report) -> Table:
    day = f"{built.end - timedelta(microseconds=1):%Y-%m-%d}"
    movers = Table(title=f"top movers on {day} (≥ {built.mover_min_items} items)")
    for column in ("rank", "ticker", "items", "mean score", "change"):
        movers.add_column(column)
    for m in built.movers:
        movers.add_row(
            str(m.mover_rank),
            m.symbol,
            str(m.items),
            f"{m.mean_score:+.2f}",
            f"{m.score_change:+.2f}",
        )
    if not built.movers:
        movers.add_row("", "(none)", "", "", "")
    return movers


def _topics_table(built: Report) -> Table:
    table = Table(title="topic mix")
    for column in ("topic", "items", "share", "neg. share"):
        table.add_column(column)
    for t in built.topics:
        table.add_row(t.topic, str(t.items), f"{t.share:.0%}", f"{t.negative_share:.0%}")
    return table


def _alerts_table(built: Report) -> Table:
    table = Table(title=f"{built.scope} alerts opened in the range")
    for column in ("#", "scope", "state", "severity", "opened", "value", "baseline", "z"):
        table.add_column(column)
    for a in built.alerts[:TABLE_ALERTS]:
        table.add_row(
            str(a.alert_id),
            a.scope,
            a.state,
            a.severity,
            f"{a.opened_at:%Y-%m-%d %H:%M}",
            f"{a.value:.2f}",
            f"{a.baseline:.2f}",
            f"{a.z:.1f}",
        )
    if not built.alerts:
        table.add_row("", "(none)", "", "", "", "", "", "")
    return table


def create_roles(
    role: Annotated[
        str | None, typer.Option(help="Role name (default database.reporting_role)")
    ] = None,
) -> None:
    """Create the read-only reporting role (NOLOGIN) if missing and grant it SELECT."""
    from pipeline.storage.db import make_engine
    from pipeline.storage.roles import create_reporting_role
    from workers.invocation import console, friendly_errors, settings

    loaded = settings()
    name = role or loaded.database.reporting_role
    engine = make_engine(loaded.database)
    created = friendly_errors(create_reporting_role)(engine, name)
    engine.dispose()
    console.print(f"role {name}: {'created' if created else 'exists'}; SELECT granted")
