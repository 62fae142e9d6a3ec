"""PNG charts for `finsent report` and the demo: sentiment trend with alerts, and topic mix."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers, CI or containers

import matplotlib.dates as mdates  # after use(): the backend must be chosen first
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pipeline.reporting.alert_history import AlertSummary
from pipeline.reporting.queries import SentimentPoint, TopicShare

NEGATIVE, SCORE, ALERT, NEUTRAL = "#e57373", "#1e88e5", "#b71c1c", "#90a4ae"


def render_sentiment_trend(
    points: Sequence[SentimentPoint],
    alerts: Sequence[AlertSummary],
    title: str,
    path: Path,
    period: str = "hourly",
    span: tuple[datetime, datetime] | None = None,
) -> Path:
    """Negative share as bars, mean score as a line, a dashed marker where each alert fired.
    The time axis covers `span` (else the points); with nothing to draw it says so."""
    fig, share_ax = plt.subplots(figsize=(10, 4.2), dpi=110)
    try:
        # Matplotlib's date numbers are days, so bar widths and offsets are in days too.
        times = [_days(p.bucket) for p in points]
        width = 0.9 if period == "daily" else 0.9 / 24
        share_ax.bar(
            times,
            [p.negative_share for p in points],
            width=width,
            color=NEGATIVE,
            align="edge",
            label="negative share",
        )
        share_ax.set_ylim(0, 1)
        share_ax.set_ylabel("negative share")
        score_ax = share_ax.twinx()
        centres = [t + width / 2 for t in times]
        score_ax.plot(
            centres, [p.mean_score for p in points], color=SCORE, marker=".", label="mean score"
        )
        score_ax.set_ylim(-1, 1)
        score_ax.set_ylabel("mean score")
        for alert in alerts:
            moment = _days(alert.fired_at or alert.opened_at)
            share_ax.axvline(moment, color=ALERT, linestyle="--", linewidth=1.2)
            share_ax.annotate(
                f"#{alert.alert_id} {alert.severity}",
                (moment, 0.97),
                color=ALERT,
                fontsize=8,
                rotation=90,
                va="top",
                ha="right",
            )
        _time_axis(share_ax, span, bool(points))
        share_ax.set_title(title)
        fig.autofmt_xdate()
        fig.tight_layout()
        return _save(fig, path)
    finally:
        plt.close(fig)


def render_topic_mix(topics: Sequence[TopicShare], title: str, path: Path) -> Path:
    """Items per topic (every topic), with the negative part of each bar in red."""
    shown = list(topics)[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.42 * max(len(shown), 3) + 1.2), dpi=110)
    try:
        names = [t.topic for t in shown]
        ax.barh(names, [t.items for t in shown], color=NEUTRAL, label="items")
        ax.barh(
            names, [t.items * t.negative_share for t in shown], color=NEGATIVE, label="negative"
        )
        ax.set_xlabel("items")
        ax.set_title(title)
        if shown:
            ax.legend(loc="lower right")
        else:
            ax.text(0.5, 0.5, "no items in range", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        return _save(fig, path)
    finally:
        plt.close(fig)


def _time_axis(ax: Axes, span: tuple[datetime, datetime] | None, drawn: bool) -> None:
    """UTC date ticks over the span; an empty chart keeps the span's dates, never 1970."""
    if span is not None:
        ax.set_xlim(_days(span[0]), _days(span[1]))
    if not drawn:
        ax.text(0.5, 0.5, "no data in range", ha="center", va="center", transform=ax.transAxes)
        if span is None:
            ax.set_xticks([])
            return
    locator = mdates.AutoDateLocator(tz=UTC)  # type: ignore[no-untyped-call]  # untyped in stubs
    ax.xaxis.set_major_locator(locator)
    formatter = mdates.DateFormatter("%m-%d %H:%M", tz=UTC)  # type: ignore[no-untyped-call]  # untyped in stubs
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlabel("time (UTC)")


def _days(moment: datetime) -> float:
    """Matplotlib's date number (days since its epoch) of an aware datetime."""
    return float(mdates.date2num(moment))  # type: ignore[no-untyped-call]  # untyped in stubs


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
