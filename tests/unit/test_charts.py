"""PNG charts: real files, alert markers drawn where alerts fired, topic bars present."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib.dates as mdates
import matplotlib.image as mpimg
import numpy as np
import pytest
from matplotlib.figure import Figure

from pipeline.model.labels import TOPICS
from pipeline.reporting import charts
from pipeline.reporting.alert_history import AlertSummary
from pipeline.reporting.charts import ALERT, NEGATIVE, render_sentiment_trend, render_topic_mix
from pipeline.reporting.queries import SentimentPoint, TopicShare

T0 = datetime(2026, 11, 3, tzinfo=UTC)


def _point(hour: int, share: float) -> SentimentPoint:
    return SentimentPoint(
        bucket=T0 + timedelta(hours=hour),
        items=10,
        distinct_items=10,
        sources=3,
        negative=int(share * 10),
        neutral=10 - int(share * 10),
        positive=0,
        negative_share=share,
        positive_share=0.0,
        mean_score=-share,
    )


ALERT_ROW = AlertSummary(
    alert_id=7,
    rule="negative_spike",
    scope="ticker:ACME",
    scope_kind="ticker",
    state="firing",
    severity="critical",
    opened_at=T0 + timedelta(hours=5),
    fired_at=T0 + timedelta(hours=5, minutes=30),
    resolved_at=None,
    window_start=T0 + timedelta(hours=4),
    window_end=T0 + timedelta(hours=5),
    value=0.9,
    baseline=0.1,
    z=8.0,
    notifications=1,
    notifications_delivered=1,
)


def _pixels_like(path: Path, colour: str) -> int:
    image = mpimg.imread(path)[:, :, :3]
    target = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(image - target).max(axis=2) < 0.06).sum())


def test_trend_chart_marks_each_alert(tmp_path: Path) -> None:
    points = [_point(h, 0.9 if h >= 5 else 0.1) for h in range(8)]
    with_alert = render_sentiment_trend(points, [ALERT_ROW], "ticker:ACME", tmp_path / "a.png")
    without = render_sentiment_trend(points, [], "ticker:ACME", tmp_path / "b.png")
    assert with_alert.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _pixels_like(with_alert, ALERT) > 20
    assert _pixels_like(without, ALERT) == 0
    assert _pixels_like(without, NEGATIVE) > 500


def test_trend_chart_with_a_single_point(tmp_path: Path) -> None:
    path = render_sentiment_trend([_point(0, 0.5)], [], "market", tmp_path / "one.png")
    assert _pixels_like(path, NEGATIVE) > 0


def test_topic_mix_draws_negative_part(tmp_path: Path) -> None:
    topics = [
        TopicShare(topic="Legal | Regulation", items=30, share=0.75, negative_share=0.9),
        TopicShare(topic="Earnings", items=10, share=0.25, negative_share=0.0),
    ]
    path = render_topic_mix(topics, "market", tmp_path / "nested" / "topics.png")
    assert path.is_file()
    none_negative = [t.model_copy(update={"negative_share": 0.0}) for t in topics]
    legend_only = _pixels_like(render_topic_mix(none_negative, "m", tmp_path / "n.png"), NEGATIVE)
    assert _pixels_like(path, NEGATIVE) > legend_only + 500


def _capture_figures(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    drawn: list[Figure] = []

    def keep(fig: Figure, path: Path) -> Path:
        drawn.append(fig)
        return path

    monkeypatch.setattr(charts, "_save", keep)
    return drawn


@pytest.mark.parametrize(
    ("points", "span"),
    [
        pytest.param([], (T0, T0 + timedelta(days=2)), id="no data: the asked range"),
        pytest.param([_point(0, 0.5)], (T0, T0 + timedelta(hours=6)), id="data: the asked range"),
    ],
)
def test_trend_axis_covers_the_asked_range_never_1970(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    points: list[SentimentPoint],
    span: tuple[datetime, datetime],
) -> None:
    drawn = _capture_figures(monkeypatch)
    render_sentiment_trend(points, [], "market", tmp_path / "t.png", "hourly", span)
    axis = drawn[0].axes[0]
    lo, hi = (mdates.num2date(x) for x in axis.get_xlim())  # type: ignore[no-untyped-call]  # untyped in stubs
    assert (lo, hi) == span
    assert axis.get_xlabel() == "time (UTC)"
    assert all(t.get_text()[:2] in ("11", "") for t in axis.get_xticklabels())


def test_topic_mix_draws_every_topic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = _capture_figures(monkeypatch)
    topics = [
        TopicShare(topic=name, items=20 - i, share=0.05, negative_share=0.1)
        for i, name in enumerate(TOPICS)
    ]
    render_topic_mix(topics, "market", tmp_path / "t.png")
    assert [t.get_text() for t in drawn[0].axes[0].get_yticklabels()] == list(TOPICS)[::-1]
