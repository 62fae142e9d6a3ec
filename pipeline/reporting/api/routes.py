"""/api/*: trends, topic mix, scopes, alerts and items, read through pipeline.reporting.queries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine

from pipeline.reporting.alert_history import (
    AlertDetail,
    AlertSummary,
    ItemPage,
    alert_detail,
    alert_window_items,
    list_alerts,
)
from pipeline.reporting.checks import DataSpan, ReportInputError, check_scope, data_span, empty_note
from pipeline.reporting.queries import (
    ScopeCount,
    ScoredItem,
    SentimentPoint,
    TopicShare,
    busiest_scopes,
    scored_item_list,
    sentiment_series,
    topic_mix,
)
from pipeline.scope import SCOPE_PATTERN, Scope

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
OffsetParam = Annotated[int, Query(ge=0, le=10_000_000)]
AlertIdParam = Annotated[int, Path(ge=1, le=2**31 - 1)]
NO_ALERT: dict[int | str, dict[str, Any]] = {404: {"description": "No such alert"}}


class TrendResponse(BaseModel):
    model_config = ConfigDict(frozen=True)

    scope: str
    period: Literal["hourly", "daily"]
    start: datetime
    end: datetime
    points: list[SentimentPoint]
    topics: list[TopicShare]
    alerts: list[AlertSummary]
    data_span: DataSpan | None = Field(None, description="Where the scope's data is (when empty)")
    notes: list[str] = []


def time_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """Defaults (the last 48 hours) and bounds; naive times are taken as UTC."""
    end = _bounded(end, "to") if end is not None else datetime.now(UTC)
    start = _bounded(start) if start is not None else end - timedelta(hours=48)
    if start >= end:
        raise _invalid("from", "`from` must be before `to`", start)
    return start, end


def optional_range(
    start: datetime | None, end: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """Bounds for a range either end of which may be open; a reversed one is a 422."""
    lo = _bounded(start) if start is not None else None
    hi = _bounded(end, "to") if end is not None else None
    if lo is not None and hi is not None and lo >= hi:
        raise _invalid("from", "`from` must be before `to`", lo)
    return lo, hi


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
            try:
                check_scope(conn, parsed)
            except ReportInputError as e:
                raise _invalid("scope", str(e), scope) from e
            points = sentiment_series(conn, parsed, lo, hi, period)
            return TrendResponse(
                scope=str(parsed),
                period=period,
                start=lo,
                end=hi,
                points=points,
                topics=topic_mix(conn, parsed, lo, hi),
                alerts=list_alerts(conn, end=hi, scope=str(parsed), limit=200),
                data_span=None if points else data_span(conn, parsed),
                notes=[] if points else [empty_note(conn, parsed)],
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
        lo, hi = optional_range(start, end)
        with engine.connect() as conn:
            return list_alerts(
                conn,
                start=lo,
                end=hi,
                scope=scope,
                states=[state] if state else [],
                limit=limit,
            )

    @router.get(
        "/alerts/{alert_id}",
        response_model=AlertDetail,
        responses=NO_ALERT,
        summary="One alert with its explanation, items and deliveries",
    )
    def alert(alert_id: AlertIdParam) -> AlertDetail:
        with engine.connect() as conn:
            found = alert_detail(conn, alert_id)
        if found is None:
            raise HTTPException(404, "no such alert")
        return found

    @router.get(
        "/alerts/{alert_id}/items",
        response_model=ItemPage,
        responses=NO_ALERT,
        summary="Every item of the alert's scope in its window, newest first, by pages",
    )
    def alert_items(
        alert_id: AlertIdParam, offset: OffsetParam = 0, limit: LimitParam = 50
    ) -> ItemPage:
        with engine.connect() as conn:
            page = alert_window_items(conn, alert_id, limit, offset)
        if page is None:
            raise HTTPException(404, "no such alert")
        return page

    @router.get("/items", response_model=list[ScoredItem], summary="Scored items, newest first")
    def items(
        ticker: Annotated[str | None, Query(pattern=SYMBOL_PATTERN)] = None,
        topic: Annotated[str | None, Query(pattern=TEXT_PATTERN)] = None,
        start: FromParam = None,
        end: ToParam = None,
        limit: LimitParam = 100,
        offset: OffsetParam = 0,
    ) -> list[ScoredItem]:
        lo, hi = optional_range(start, end)
        with engine.connect() as conn:
            return scored_item_list(
                conn, ticker=ticker, topic=topic, start=lo, end=hi, limit=limit, offset=offset
            )

    return router
