"""One report: a scope's series, topic mix, alerts and movers over a time range, plus charts."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from pipeline.reporting.alert_history import AlertSummary, count_alerts, list_alerts
from pipeline.reporting.checks import check_range, check_scope, empty_note
from pipeline.reporting.queries import (
    MOVER_MIN_ITEMS,
    PERIOD_LENGTH,
    Mover,
    Period,
    SentimentPoint,
    TopicShare,
    ranked_movers,
    sentiment_series,
    topic_mix,
)
from pipeline.scope import Scope
from pipeline.storage.model_version import current_model_version

ALERT_LIMIT = 50
MOVER_LIMIT = 10


class Report(BaseModel):
    model_config = ConfigDict(frozen=True)

    scope: str
    period: Period
    start: datetime
    end: datetime
    model_version: str | None
    points: list[SentimentPoint]
    topics: list[TopicShare]
    alerts: list[AlertSummary]
    alerts_total: int
    movers: list[Mover]
    movers_total: int
    mover_min_items: int
    notes: list[str]


def build_report(
    conn: Connection,
    scope: Scope,
    start: datetime,
    end: datetime,
    period: Period = "hourly",
    mover_min_items: int = MOVER_MIN_ITEMS,
) -> Report:
    """Everything `finsent report` shows: this scope's alerts opened in the range; movers of
    the range's last day with at least `mover_min_items` items. Rejects a reversed range and
    an unknown topic or ticker; says where the data is when the range holds none."""
    check_range(start, end)
    check_scope(conn, scope)
    points = sentiment_series(conn, scope, start, end, period)
    movers = ranked_movers(conn, end - timedelta(microseconds=1), mover_min_items)
    return Report(
        scope=str(scope),
        period=period,
        start=start,
        end=end,
        model_version=current_model_version(conn),
        points=points,
        topics=topic_mix(conn, scope, start, end),
        alerts=list_alerts(conn, start=start, end=end, scope=str(scope), limit=ALERT_LIMIT),
        alerts_total=count_alerts(conn, start=start, end=end, scope=str(scope)),
        movers=movers[:MOVER_LIMIT],
        movers_total=len(movers),
        mover_min_items=mover_min_items,
        notes=_partial_notes(points, start, end, period) if points else [empty_note(conn, scope)],
    )


def _partial_notes(
    points: list[SentimentPoint], start: datetime, end: datetime, period: Period
) -> list[str]:
    """Say when the first or last period reaches outside the range: it is counted whole."""
    length = PERIOD_LENGTH[period]
    first, last = points[0].bucket, points[-1].bucket
    ends = [
        f"the first ({first:%Y-%m-%d %H:%M}) starts before the range" if first < start else "",
        f"the last ({last:%Y-%m-%d %H:%M}) ends after it" if last + length > end else "",
    ]
    said = "; ".join(e for e in ends if e)
    return [f"partial {period} periods counted whole: {said}"] if said else []


def write_charts(report: Report, directory: Path) -> list[Path]:
    """The trend chart (with this scope's fired alerts marked) and the topic mix, as PNGs."""
    from pipeline.reporting.charts import render_sentiment_trend, render_topic_mix

    stem = re.sub(r"[^A-Za-z0-9.-]+", "_", report.scope)
    # Pending alerts that never fired were not notified: they are not marked.
    own_alerts = [a for a in report.alerts if a.scope == report.scope and a.fired_at]
    span = f"{report.start:%Y-%m-%d %H:%M} → {report.end:%Y-%m-%d %H:%M} UTC"
    title = f"{report.scope}: {report.period} sentiment, {span}"
    return [
        render_sentiment_trend(
            report.points,
            own_alerts,
            title,
            directory / f"trend_{stem}.png",
            report.period,
            (report.start, report.end),
        ),
        render_topic_mix(
            report.topics, f"{report.scope}: topic mix", directory / f"topics_{stem}.png"
        ),
    ]
