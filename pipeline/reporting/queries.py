"""What people read: sentiment series, topic mix, items, movers and alerts, from the views.

Every query goes through SQLAlchemy expressions with bound parameters; the reporting views of
migration 0003_reporting do the aggregation, so SQL users and the API see the same numbers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Select, case, func, select

from pipeline.clock import as_utc
from pipeline.reporting.views import (
    SENTIMENT,
    scored_items,
    top_movers_daily,
)
from pipeline.scope import Scope, scope_text
from pipeline.storage.tables import TickerMention

Period = Literal["hourly", "daily"]
PERIOD_LENGTH: dict[Period, timedelta] = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}
# A day's mean score over fewer items than this is noise, not a move.
MOVER_MIN_ITEMS = 10
_FROZEN = ConfigDict(frozen=True)
Q = TypeVar("Q", bound=Select[Any])


class SentimentPoint(BaseModel):
    model_config = _FROZEN

    bucket: datetime
    items: int
    distinct_items: int
    sources: int
    negative: int
    neutral: int
    positive: int
    negative_share: float
    positive_share: float
    mean_score: float


class TopicShare(BaseModel):
    model_config = _FROZEN

    topic: str
    items: int
    share: float
    negative_share: float


class ScoredItem(BaseModel):
    """A row of the `scored_items` view, as the API, the report and alert details show it."""

    model_config = _FROZEN

    item_id: str
    event_time: datetime
    source: str
    headline: str
    url: str | None
    topic: str
    topic_confidence: float
    sentiment: str
    score: float
    tickers: list[str]


class Mover(BaseModel):
    model_config = _FROZEN

    bucket: datetime
    symbol: str
    items: int
    mean_score: float
    previous_mean_score: float
    score_change: float
    negative_share_change: float
    mover_rank: int


class ScopeCount(BaseModel):
    model_config = _FROZEN

    scope: str
    items: int


def sentiment_series(
    conn: Connection, scope: Scope, start: datetime, end: datetime, period: Period = "hourly"
) -> list[SentimentPoint]:
    """One point per hour (or day) with items that overlaps [start, end), oldest first: a
    range starting mid-period keeps its first, partial period (counted whole)."""
    view = SENTIMENT[(scope.kind, period)]
    query = select(*[c for c in view.c if c.name not in ("topic", "symbol")]).where(
        view.c.bucket > as_utc(start) - PERIOD_LENGTH[period], view.c.bucket < as_utc(end)
    )
    if scope.kind == "topic":
        query = query.where(view.c.topic == scope.key)
    elif scope.kind == "ticker":
        query = query.where(view.c.symbol == scope.key)
    rows = conn.execute(query.order_by(view.c.bucket)).mappings()
    return [SentimentPoint.model_validate({**r, "bucket": as_utc(r["bucket"])}) for r in rows]


def topic_mix(conn: Connection, scope: Scope, start: datetime, end: datetime) -> list[TopicShare]:
    """Items per topic in the range (within a ticker when the scope is one), largest first."""
    s = scored_items
    negative = func.sum(case((s.c.sentiment == "negative", 1), else_=0))
    query = in_scope(
        select(s.c.topic, func.count().label("items"), negative.label("negative")), scope
    ).where(s.c.event_time >= as_utc(start), s.c.event_time < as_utc(end))
    rows = list(conn.execute(query.group_by(s.c.topic).order_by(func.count().desc(), s.c.topic)))
    total = sum(r.items for r in rows) or 1
    return [
        TopicShare(
            topic=r.topic,
            items=r.items,
            share=r.items / total,
            negative_share=(r.negative or 0) / r.items,
        )
        for r in rows
    ]


class ItemFilter(BaseModel):
    """Which scored items to read: all given conditions hold."""

    model_config = _FROZEN

    ticker: str | None = None
    topic: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    ids: list[str] | None = None
    # A trend window is (start, end]: its end counts, its start does not.
    window: tuple[datetime, datetime] | None = None

    def apply(self, query: Q) -> Q:
        s = scored_items
        if self.ticker is not None:
            query = in_scope(query, Scope(kind="ticker", key=self.ticker))
        if self.topic is not None:
            query = query.where(s.c.topic == self.topic)
        if self.start is not None:
            query = query.where(s.c.event_time >= as_utc(self.start))
        if self.end is not None:
            query = query.where(s.c.event_time < as_utc(self.end))
        if self.ids is not None:
            query = query.where(s.c.item_id.in_(self.ids))
        if self.window is not None:
            after, through = self.window
            query = query.where(s.c.event_time > as_utc(after), s.c.event_time <= as_utc(through))
        return query


def scored_item_list(
    conn: Connection,
    *,
    ticker: str | None = None,
    topic: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    ids: list[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ScoredItem]:
    """Items with the current model's verdict, newest first, filtered as asked."""
    wanted = ItemFilter(ticker=ticker, topic=topic, start=start, end=end, ids=ids)
    return scored_item_page(conn, wanted, limit, offset)


def scored_item_page(
    conn: Connection, wanted: ItemFilter, limit: int = 100, offset: int = 0
) -> list[ScoredItem]:
    """One page of the items `wanted` selects, newest first."""
    s = scored_items
    query = select(s).order_by(s.c.event_time.desc(), s.c.item_id).limit(limit).offset(offset)
    rows = list(conn.execute(wanted.apply(query)).mappings())
    tickers = _tickers_of(conn, [r["item_id"] for r in rows])
    return [
        ScoredItem.model_validate(
            {**r, "event_time": as_utc(r["event_time"]), "tickers": tickers.get(r["item_id"], [])}
        )
        for r in rows
    ]


def count_scored_items(conn: Connection, wanted: ItemFilter) -> int:
    """How many items `wanted` selects."""
    query = wanted.apply(select(func.count()).select_from(scored_items))
    return int(conn.execute(query).scalar_one())


def top_movers(
    conn: Connection, day: datetime, limit: int = 10, min_items: int = MOVER_MIN_ITEMS
) -> list[Mover]:
    """The tickers whose mean score moved most on `day` against their previous day."""
    return ranked_movers(conn, day, min_items)[:limit]


def ranked_movers(conn: Connection, day: datetime, min_items: int = MOVER_MIN_ITEMS) -> list[Mover]:
    """Every ticker with at least `min_items` items on `day`, ranked by the size of its move
    (ties share a rank)."""
    v = top_movers_daily
    start = as_utc(day).replace(hour=0, minute=0, second=0, microsecond=0)
    query = (
        select(v)
        .where(v.c.bucket == start, v.c["items"] >= min_items)
        .order_by(func.abs(v.c.score_change).desc(), v.c.symbol)
    )
    movers: list[Mover] = []
    for position, row in enumerate(conn.execute(query).mappings(), start=1):
        tied = movers and abs(movers[-1].score_change) == abs(row["score_change"])
        rank = movers[-1].mover_rank if tied else position
        movers.append(
            Mover.model_validate({**row, "bucket": as_utc(row["bucket"]), "mover_rank": rank})
        )
    return movers


def busiest_scopes(
    conn: Connection, start: datetime, end: datetime, limit: int = 20
) -> list[ScopeCount]:
    """Market, then topics and tickers by item count in the range: the dashboard's menu."""
    s = scored_items
    in_range = (s.c.event_time >= as_utc(start), s.c.event_time < as_utc(end))
    total = conn.execute(select(func.count()).where(*in_range)).scalar_one()
    topics = conn.execute(
        select(s.c.topic, func.count().label("n"))
        .where(*in_range)
        .group_by(s.c.topic)
        .order_by(func.count().desc(), s.c.topic)
        .limit(limit)
    )
    m = TickerMention.__table__.c
    tickers = conn.execute(
        select(m.symbol, func.count().label("n"))
        .join_from(s, TickerMention.__table__, m.item_id == s.c.item_id)
        .where(*in_range)
        .group_by(m.symbol)
        .order_by(func.count().desc(), m.symbol)
        .limit(limit)
    )
    return [
        ScopeCount(scope="market", items=total),
        *(ScopeCount(scope=scope_text("topic", str(t)), items=n) for t, n in topics),
        *(ScopeCount(scope=scope_text("ticker", str(t)), items=n) for t, n in tickers),
    ]


def in_scope(query: Q, scope: Scope) -> Q:
    if scope.kind == "topic":
        return query.where(scored_items.c.topic == scope.key)
    if scope.kind == "ticker":
        mentions = TickerMention.__table__.c
        return query.where(
            scored_items.c.item_id.in_(select(mentions.item_id).where(mentions.symbol == scope.key))
        )
    return query


def _tickers_of(conn: Connection, item_ids: list[str]) -> dict[str, list[str]]:
    if not item_ids:
        return {}
    m = TickerMention.__table__.c
    rows = conn.execute(
        select(m.item_id, m.symbol).where(m.item_id.in_(item_ids)).order_by(m.symbol)
    )
    found: dict[str, list[str]] = {}
    for item_id, symbol in rows:
        found.setdefault(str(item_id), []).append(str(symbol))
    return found
