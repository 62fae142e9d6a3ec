"""What an alert says about the spike that opened or re-notified it: the rule's figures and
the window's most negative items (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from pipeline.alerting.detection import verdict_figures
from pipeline.alerting.rules import Rule
from pipeline.alerting.scope_sql import C, N, item_filters, scope_filter, scope_source
from pipeline.alerting.verdicts import Judged
from pipeline.clock import as_utc
from pipeline.scope import scope_kind
from schemas.alerts import Explanation, TopItem


def explain(
    conn: Connection, rule: Rule, item: Judged, version: str, english_only: bool, top_items: int
) -> Explanation:
    """Why `item` spikes: the rule's figures and the window's most negative items."""
    tops = top_negative_items(conn, english_only, version, item.scope, item.window, top_items)
    return Explanation.model_validate(
        {
            **verdict_figures(rule, item.kind, item.verdict),
            "window_start": item.window[0],
            "window_end": item.window[1],
            "top_items": tops,
        }
    )


def top_negative_items(
    conn: Connection,
    english_only: bool,
    version: str,
    scope: str,
    window: tuple[datetime, datetime],
    limit: int,
) -> list[TopItem]:
    """The most negative items of one scope's window, for an alert's explanation."""
    query = (
        select(
            C.item_id, N.headline, N.source, N.url, C.score, C.p_negative,
            C.event_time.label("event_time"),
        )
        .select_from(scope_source(scope_kind(scope)))
        .where(*item_filters(english_only, version))
        .where(C.sentiment == "negative")
        .where(C.event_time > window[0], C.event_time <= window[1], *scope_filter(scope))
        .order_by(C.p_negative.desc(), C.item_id)
        .limit(limit)
    )
    return [
        TopItem(
            id=r.item_id, headline=r.headline, source=r.source, url=r.url, score=r.score,
            p_negative=r.p_negative, event_time=as_utc(r.event_time),
        )
        for r in conn.execute(query)
    ]
