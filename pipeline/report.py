"""One report: a scope's series, topic mix, alerts and movers over a time range, plus charts."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection

from pipeline.alert_history import AlertSummary, list_alerts
from pipeline.reporting import (
    Mover,
    Period,
    Scope,
    SentimentPoint,
    TopicShare,
    current_model_version,
    sentiment_series,
    top_movers,
    topic_mix,
)


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
    movers: list[Mover]


def build_report(
    conn: Connection, scope: Scope, start: datetime, end: datetime, period: Period = "hourly"
) -> Report:
    """Everything `finsent report` shows: alerts of any scope opened in the range; movers of
    the range's last day."""
    return Report(
        scope=str(scope),
        period=period,
        start=start,
        end=end,
        model_version=current_model_version(conn),
        points=sentiment_series(conn, scope, start, end, period),
        topics=topic_mix(conn, scope, start, end),
        alerts=list_alerts(conn, start=start, end=end, limit=500),
        movers=top_movers(conn, end - timedelta(microseconds=1)),
    )


def write_charts(report: Report, directory: Path) -> list[Path]:
    """The trend chart (with this scope's fired alerts marked) and the topic mix, as PNGs."""
    from pipeline.charts import render_sentiment_trend, render_topic_mix

    stem = re.sub(r"[^A-Za-z0-9.-]+", "_", report.scope)
    # Pending alerts that never fired were not notified: they are not marked.
    own_alerts = [a for a in report.alerts if a.scope == report.scope and a.fired_at]
    span = f"{report.start:%Y-%m-%d %H:%M} → {report.end:%Y-%m-%d %H:%M} UTC"
    title = f"{report.scope}: {report.period} sentiment, {span}"
    return [
        render_sentiment_trend(
            report.points, own_alerts, title, directory / f"trend_{stem}.png", report.period
        ),
        render_topic_mix(
            report.topics, f"{report.scope}: topic mix", directory / f"topics_{stem}.png"
        ),
    ]
