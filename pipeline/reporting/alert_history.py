"""Alerts as people browse them: the history list and one alert with the items behind it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, Select, func, select

from pipeline.clock import as_utc
from pipeline.reporting.queries import (
    ItemFilter,
    ScoredItem,
    count_scored_items,
    scored_item_list,
    scored_item_page,
)
from pipeline.reporting.views import alert_history, delivery_status
from pipeline.scope import Scope

_FROZEN = ConfigDict(frozen=True)


class AlertSummary(BaseModel):
    model_config = _FROZEN

    alert_id: int
    rule: str
    scope: str
    scope_kind: str
    state: str
    severity: str
    opened_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    window_start: datetime
    window_end: datetime
    value: float
    baseline: float
    z: float
    notifications: int
    notifications_delivered: int


class Delivery(BaseModel):
    model_config = _FROZEN

    webhook_id: str
    event_type: str
    endpoint: str
    status: str
    attempts: int
    delivered_at: datetime | None
    last_error: str | None


class AlertDetail(AlertSummary):
    explanation: dict[str, Any]
    items: list[ScoredItem]
    deliveries: list[Delivery]


class ItemPage(BaseModel):
    """One page of a longer list of items, with the length of the whole list."""

    model_config = _FROZEN

    total: int
    offset: int
    limit: int
    items: list[ScoredItem]


_TIMES = ("opened_at", "fired_at", "resolved_at", "window_start", "window_end", "delivered_at")


def list_alerts(
    conn: Connection,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    scope: str | None = None,
    states: Sequence[str] = (),
    limit: int = 100,
) -> list[AlertSummary]:
    """Alerts opened in [start, end), newest first; filtered by exact scope and by state
    (any of `states`; all when empty). The API, `finsent alerts list`, the report and the
    demo list alerts here."""
    v = alert_history
    query = select(v).order_by(v.c.opened_at.desc(), v.c.alert_id.desc()).limit(limit)
    query = _filtered(query, start, end, scope, states)
    return [AlertSummary.model_validate(_aware(r)) for r in conn.execute(query).mappings()]


def count_alerts(
    conn: Connection,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    scope: str | None = None,
    states: Sequence[str] = (),
) -> int:
    """How many alerts `list_alerts` would list without its limit."""
    query = select(func.count()).select_from(alert_history)
    return int(conn.execute(_filtered(query, start, end, scope, states)).scalar_one())


def _filtered(
    query: Select[Any],
    start: datetime | None,
    end: datetime | None,
    scope: str | None,
    states: Sequence[str],
) -> Select[Any]:
    v = alert_history
    if start is not None:
        query = query.where(v.c.opened_at >= as_utc(start))
    if end is not None:
        query = query.where(v.c.opened_at < as_utc(end))
    if scope is not None:
        query = query.where(v.c.scope == scope)
    if states:
        query = query.where(v.c.state.in_(list(states)))
    return query


def alert_window_items(
    conn: Connection, alert_id: int, limit: int = 50, offset: int = 0
) -> ItemPage | None:
    """Every item of the alert's scope inside its window, newest first, one page at a time."""
    v = alert_history
    found = conn.execute(
        select(v.c.scope, v.c.window_start, v.c.window_end).where(v.c.alert_id == alert_id)
    ).first()
    if found is None:
        return None
    scope = Scope.parse(found.scope)
    wanted = ItemFilter(
        ticker=scope.key if scope.kind == "ticker" else None,
        topic=scope.key if scope.kind == "topic" else None,
        window=(found.window_start, found.window_end),
    )
    return ItemPage(
        total=count_scored_items(conn, wanted),
        offset=offset,
        limit=limit,
        items=scored_item_page(conn, wanted, limit, offset),
    )


def alert_detail(conn: Connection, alert_id: int) -> AlertDetail | None:
    """One alert, its explanation, the top negative items it names and its deliveries."""
    row = conn.execute(select(alert_history).where(alert_history.c.alert_id == alert_id))
    found = row.mappings().first()
    if found is None:
        return None
    explanation = found["explanation"] or {}
    items = scored_item_list(conn, ids=explained_item_ids(explanation), limit=50)
    d = delivery_status
    deliveries = conn.execute(
        select(d).where(d.c.alert_id == alert_id).order_by(d.c.created_at, d.c.delivery_id)
    ).mappings()
    return AlertDetail.model_validate(
        {
            **_aware(found),
            "explanation": explanation,
            "items": items,
            "deliveries": [Delivery.model_validate(_aware(r)) for r in deliveries],
        }
    )


def explained_item_ids(explanation: dict[str, Any]) -> list[str]:
    """The ids of the top negative items an alert's explanation lists."""
    listed = explanation.get("top_items") or explanation.get("items") or []
    ids = [entry.get("id") or entry.get("item_id") for entry in listed if isinstance(entry, dict)]
    return [str(i) for i in ids if i]


def _aware(row: Any) -> dict[str, Any]:
    values = dict(row)
    for key in _TIMES:
        if values.get(key) is not None:
            values[key] = as_utc(values[key])
    return values
