"""Reporting views and queries on the embedded backend (SQLite), against hand-checked numbers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection

from pipeline.reporting.alert_history import (
    alert_detail,
    alert_window_items,
    count_alerts,
    list_alerts,
)
from pipeline.reporting.queries import (
    Period,
    busiest_scopes,
    scored_item_list,
    sentiment_series,
    top_movers,
    topic_mix,
)
from pipeline.scope import Scope
from pipeline.storage.model_version import current_model_version
from tests.reporting_seed import DAY1, DAY2, NEW, OLD, seeded_sqlite

START, END = DAY1 - timedelta(days=1), DAY2 + timedelta(days=1)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[Connection]:
    engine = seeded_sqlite(tmp_path)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def test_market_hourly_counts_english_items_of_the_current_model(conn: Connection) -> None:
    points = sentiment_series(conn, Scope.parse("market"), START, END)
    assert [(p.bucket, p.items, p.negative, p.distinct_items) for p in points] == [
        (DAY1, 4, 0, 4),
        (DAY2, 4, 3, 3),
    ]
    assert points[1].negative_share == pytest.approx(0.75)
    assert points[1].mean_score == pytest.approx((-0.9 * 3 + 0.6) / 4)


def test_range_is_half_open_on_bucket_starts(conn: Connection) -> None:
    points = sentiment_series(conn, Scope.parse("market"), DAY1, DAY2)
    assert [p.bucket for p in points] == [DAY1]


def test_without_a_published_version_the_newest_model_is_read(tmp_path: Path) -> None:
    engine = seeded_sqlite(tmp_path, current=None)
    with engine.connect() as connection:
        assert current_model_version(connection) == NEW
        points = sentiment_series(connection, Scope.parse("market"), START, END)
    assert {p.positive for p in points} == {4}


def test_ticker_daily_and_top_movers(conn: Connection) -> None:
    assert current_model_version(conn) == OLD
    days = sentiment_series(conn, Scope.parse("ticker:ACME"), START, END, "daily")
    assert [(p.items, p.mean_score) for p in days] == [(2, 0.0), (3, pytest.approx(-0.9))]
    movers = top_movers(conn, DAY2, min_items=1)
    assert [(m.symbol, m.mover_rank) for m in movers] == [("ACME", 1), ("BETA", 2)]
    assert movers[0].score_change == pytest.approx(-0.9)
    assert movers[1].score_change == pytest.approx(-0.2)


@pytest.mark.parametrize(
    ("min_items", "expected"),
    [
        pytest.param(1, ["ACME", "BETA"], id="every ticker with a previous day"),
        pytest.param(2, ["ACME"], id="BETA's single item is not a move"),
        pytest.param(4, [], id="nobody has four items"),
        pytest.param(None, [], id="default minimum of ten"),
    ],
)
def test_top_movers_need_a_minimum_count(
    conn: Connection, min_items: int | None, expected: list[str]
) -> None:
    movers = top_movers(conn, DAY2) if min_items is None else top_movers(conn, DAY2, 10, min_items)
    assert [m.symbol for m in movers] == expected
    assert [m.mover_rank for m in movers] == list(range(1, len(expected) + 1))


@pytest.mark.parametrize(
    ("start", "period", "buckets"),
    [
        pytest.param(
            DAY1 + timedelta(minutes=30),
            "daily",
            [DAY1.replace(hour=0), DAY2.replace(hour=0)],
            id="daily from mid-day keeps that day",
        ),
        pytest.param(
            DAY1 + timedelta(minutes=30),
            "hourly",
            [DAY1, DAY2],
            id="hourly from mid-hour keeps that hour",
        ),
        pytest.param(
            DAY1 + timedelta(hours=1),
            "hourly",
            [DAY2],
            id="an hour wholly before the range is left out",
        ),
    ],
)
def test_partial_first_period_is_included(
    conn: Connection, start: datetime, period: Period, buckets: list[datetime]
) -> None:
    points = sentiment_series(conn, Scope.parse("market"), start, END, period)
    assert [p.bucket for p in points] == buckets


def test_topic_mix_within_a_ticker(conn: Connection) -> None:
    mix = topic_mix(conn, Scope.parse("ticker:ACME"), START, END)
    assert [(t.topic, t.items, t.negative_share) for t in mix] == [
        ("Legal | Regulation", 3, 1.0),
        ("Earnings", 2, 0.0),
    ]
    assert [t.share for t in mix] == pytest.approx([0.6, 0.4])


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param(
            {"ticker": "ACME"}, ["a5", "a4", "a3", "a2", "a1"], id="by ticker, newest first"
        ),
        pytest.param({"topic": "Markets"}, ["b3", "b2", "b1"], id="by topic"),
        pytest.param({"start": DAY2, "ticker": "BETA"}, ["b3"], id="by time and ticker"),
        pytest.param({"ticker": "ACME", "limit": 2}, ["a5", "a4"], id="limited"),
        pytest.param({"topic": "x' OR '1'='1"}, [], id="hostile text is only a value"),
    ],
)
def test_items_filters(conn: Connection, filters: dict[str, object], expected: list[str]) -> None:
    items = scored_item_list(conn, **filters)  # type: ignore[arg-type]
    assert [i.item_id for i in items] == expected


def test_busiest_scopes_lists_market_topics_and_tickers(conn: Connection) -> None:
    scopes = {s.scope: s.items for s in busiest_scopes(conn, START, END)}
    assert scopes == {
        "market": 8,
        "topic:Legal | Regulation": 3,
        "topic:Markets": 3,
        "topic:Earnings": 2,
        "ticker:ACME": 5,
        "ticker:BETA": 3,
    }


def test_alert_history_and_drill_down(conn: Connection) -> None:
    [summary] = list_alerts(conn, scope="ticker:ACME")
    assert (summary.state, summary.notifications, summary.notifications_delivered) == (
        "firing",
        1,
        1,
    )
    assert list_alerts(conn, states=["resolved"]) == []
    assert list_alerts(conn, states=["resolved", "firing"]) == [summary]
    detail = alert_detail(conn, summary.alert_id)
    assert detail is not None
    assert [i.item_id for i in detail.items] == ["a5", "a3"]
    assert [(d.webhook_id, d.status) for d in detail.deliveries] == [("msg_seed1", "delivered")]
    assert alert_detail(conn, 999) is None


@pytest.mark.parametrize(
    ("offset", "limit", "expected"),
    [
        pytest.param(0, 50, ["a5", "a4", "a3"], id="whole window, German item left out"),
        pytest.param(0, 2, ["a5", "a4"], id="first page"),
        pytest.param(2, 2, ["a3"], id="last page"),
        pytest.param(3, 2, [], id="past the end"),
    ],
)
def test_alert_window_items_are_paged(
    conn: Connection, offset: int, limit: int, expected: list[str]
) -> None:
    page = alert_window_items(conn, 1, limit, offset)
    assert page is not None
    assert (page.total, [i.item_id for i in page.items]) == (3, expected)
    assert alert_window_items(conn, 999) is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        pytest.param({}, 1, id="all"),
        pytest.param({"scope": "ticker:ACME"}, 1, id="its scope"),
        pytest.param({"scope": "market"}, 0, id="another scope"),
        pytest.param({"states": ["pending", "firing"]}, 1, id="one of its states"),
        pytest.param({"states": ["resolved"]}, 0, id="another state"),
        pytest.param({"start": DAY2 + timedelta(hours=1)}, 0, id="opened before the range"),
    ],
)
def test_count_alerts(conn: Connection, filters: dict[str, object], expected: int) -> None:
    assert count_alerts(conn, **filters) == expected  # type: ignore[arg-type]  # table of kwargs
