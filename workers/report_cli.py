"""`finsent report` (tables, CSV, JSON, PNG) and `finsent db create-roles`."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from pipeline.errors import FinsentError
from pipeline.report import Report
from pipeline.settings import Settings


def report(
    start: Annotated[
        datetime | None, typer.Option("--from", help="Start, UTC unless an offset is given")
    ] = None,
    end: Annotated[
        datetime | None, typer.Option("--to", help="End (exclusive); default now")
    ] = None,
    scope: Annotated[str, typer.Option(help="market | topic:<name> | ticker:<SYM>")] = "market",
    period: Annotated[Literal["hourly", "daily"], typer.Option(help="Bucket size")] = "hourly",
    fmt: Annotated[
        Literal["table", "csv", "json", "png"], typer.Option("--format", help="Output")
    ] = "table",
    out: Annotated[Path, typer.Option(help="Directory for PNG charts")] = Path("finsent-out"),
) -> None:
    """Sentiment of a scope over a time range, its topic mix, alerts and top movers."""
    from workers.invocation import console, friendly_errors, settings

    friendly_errors(_report)(settings(), console, start, end, scope, period, fmt, out)


def _report(
    loaded: Settings,
    console: Console,
    start: datetime | None,
    end: datetime | None,
    scope: str,
    period: str,
    fmt: str,
    out: Path,
) -> None:
    from pipeline.report import build_report, write_charts
    from pipeline.reporting import Scope
    from pipeline.storage.db import open_database

    if period not in ("hourly", "daily") or fmt not in ("table", "csv", "json", "png"):
        raise FinsentError("--period is hourly|daily and --format table|csv|json|png")
    hi = _utc(end) if end else datetime.now(UTC)
    lo = _utc(start) if start else hi - timedelta(days=2)
    engine = open_database(loaded.database)
    with engine.connect() as conn:
        built = build_report(conn, Scope.parse(scope), lo, hi, period)  # type: ignore[arg-type]  # checked above
    engine.dispose()
    if fmt == "json":
        console.print_json(built.model_dump_json())
    elif fmt == "csv":
        console.print(report_csv(built), end="", markup=False, highlight=False, soft_wrap=True)
    elif fmt == "png":
        for path in write_charts(built, out):
            console.print(f"wrote {path}", highlight=False)
    else:
        print_report(console, built)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
    console.print(series)
    console.print(_topics_table(built))
    console.print(_alerts_table(built))
    if built.movers:
        movers = Table(title=f"top movers on {built.movers[0].bucket:%Y-%m-%d}")
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
        console.print(movers)


def _topics_table(built: Report) -> Table:
    table = Table(title="topic mix")
    for column in ("topic", "items", "share", "neg. share"):
        table.add_column(column)
    for t in built.topics:
        table.add_row(t.topic, str(t.items), f"{t.share:.0%}", f"{t.negative_share:.0%}")
    return table


def _alerts_table(built: Report) -> Table:
    table = Table(title="alerts opened in the range")
    for column in ("#", "scope", "state", "severity", "opened", "value", "baseline", "z"):
        table.add_column(column)
    for a in built.alerts:
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
    return table


def create_roles(
    role: Annotated[
        str | None, typer.Option(help="Role name (default database.reporting_role)")
    ] = None,
) -> None:
    """Create the read-only reporting role (NOLOGIN) if missing and grant it SELECT."""
    from pipeline.roles import create_reporting_role
    from pipeline.storage.db import make_engine
    from workers.invocation import console, friendly_errors, settings

    loaded = settings()
    name = role or loaded.database.reporting_role
    engine = make_engine(loaded.database)
    created = friendly_errors(create_reporting_role)(engine, name)
    engine.dispose()
    console.print(f"role {name}: {'created' if created else 'exists'}; SELECT granted")
