"""/api/*: trends, topic mix, scopes, alerts and items, read through pipeline.reporting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from pipeline.alert_history import AlertDetail, AlertSummary, alert_detail, list_alerts
from pipeline.reporting import (
    Scope,
    ScopeCount,
    ScoredItem,
    SentimentPoint,
    TopicShare,
    busiest_scopes,
    scored_item_list,
    sentiment_series,
    topic_mix,
)

SCOPE_PATTERN = r"^(market|topic:[^\x00-\x1f]{1,64}|ticker:[A-Z][A-Z0-9.\-]{0,11})$"
SYMBOL_PATTERN = r"^[A-Z][A-Z0-9]{0,5}([.\-][A-Z0-9]{1,2})?$"
TEXT_PATTERN = r"^[^\x00-\x1f]{1,64}$"
# Far enough for any real query, near enough that no time zone shift overflows a datetime.
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)

ScopeParam = Annotated[
    str, Query(pattern=SCOPE_PATTERN, description="market | topic:<name> | ticker:<SYM>")
]
FromParam = Annotated[
    datetime | None, Query(alias="from", description="Start (inclusive); default to − 48 h")
]
ToParam = Annotated[datetime | None, Query(alias="to", description="End (exclusive); default now")]
LimitParam = Annotated[int, Query(ge=1, le=1000)]


class TrendResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    scope: str
    period: Literal["hourly", "daily"]
    start: datetime
    end: datetime
    points: list[SentimentPoint]
    topics: list[TopicShare]
    alerts: list[AlertSummary]


def time_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """Defaults (the last 48 hours) and bounds; naive times are taken as UTC."""
    end = _bounded(end, "to") if end is not None else datetime.now(UTC)
    start = _bounded(start) if start is not None else end - timedelta(hours=48)
    if start >= end:
        raise _invalid("from", "`from` must be before `to`", start)
    return start, end


def _bounded(moment: datetime, name: str = "from") -> datetime:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if not EARLIEST <= aware <= LATEST:
        raise _invalid(name, f"times must lie between {EARLIEST:%Y} and {LATEST:%Y}", moment)
    return aware.astimezone(UTC)


def _invalid(name: str, message: str, value: object) -> RequestValidationError:
    """A 422 shaped like FastAPI's own, so the OpenAPI schema describes every error body."""
    error = {"type": "value_error", "loc": ("query", name), "msg": message, "input": str(value)}
    return RequestValidationError([error])


def build_router(engine: Engine) -> APIRouter:
    router = APIRouter(prefix="/api", tags=["reporting"])

    @router.get("/trends", response_model=TrendResponse, summary="Sentiment over time for a scope")
    def trends(
        scope: ScopeParam = "market",
        start: FromParam = None,
        end: ToParam = None,
        period: Literal["hourly", "daily"] = "hourly",
    ) -> TrendResponse:
        lo, hi = time_range(start, end)
        parsed = Scope.parse(scope)
        with engine.connect() as conn:
            return TrendResponse(
                scope=str(parsed),
                period=period,
                start=lo,
                end=hi,
                points=sentiment_series(conn, parsed, lo, hi, period),
                topics=topic_mix(conn, parsed, lo, hi),
                alerts=list_alerts(conn, end=hi, scope=str(parsed), limit=200),
            )

    @router.get("/scopes", response_model=list[ScopeCount], summary="Busiest scopes in a range")
    def scopes(
        start: FromParam = None, end: ToParam = None, limit: LimitParam = 20
    ) -> list[ScopeCount]:
        lo, hi = time_range(start, end)
        with engine.connect() as conn:
            return busiest_scopes(conn, lo, hi, limit)

    @router.get("/alerts", response_model=list[AlertSummary], summary="Alert history, newest first")
    def alerts(
        start: FromParam = None,
        end: ToParam = None,
        scope: Annotated[str | None, Query(pattern=SCOPE_PATTERN)] = None,
        state: Literal["pending", "firing", "resolved", "cancelled"] | None = None,
        limit: LimitParam = 100,
    ) -> list[AlertSummary]:
        with engine.connect() as conn:
            return list_alerts(
                conn,
                start=_bounded(start) if start else None,
                end=_bounded(end, "to") if end else None,
                scope=scope,
                state=state,
                limit=limit,
            )

    @router.get(
        "/alerts/{alert_id}",
        response_model=AlertDetail,
        responses={404: {"description": "No such alert"}},
        summary="One alert with its explanation, items and deliveries",
    )
    def alert(alert_id: Annotated[int, Path(ge=1, le=2**31 - 1)]) -> AlertDetail:
        with engine.connect() as conn:
            found = alert_detail(conn, alert_id)
        if found is None:
            raise HTTPException(404, "no such alert")
        return found

    @router.get("/items", response_model=list[ScoredItem], summary="Scored items, newest first")
    def items(
        ticker: Annotated[str | None, Query(pattern=SYMBOL_PATTERN)] = None,
        topic: Annotated[str | None, Query(pattern=TEXT_PATTERN)] = None,
        start: FromParam = None,
        end: ToParam = None,
        limit: LimitParam = 100,
    ) -> list[ScoredItem]:
        with engine.connect() as conn:
            return scored_item_list(
                conn,
                ticker=ticker,
                topic=topic,
                start=_bounded(start) if start else None,
                end=_bounded(end, "to") if end else None,
                limit=limit,
            )

    return router
