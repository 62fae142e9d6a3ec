"""Which rows a scope reads, as SQLAlchemy pieces: the join of classifications to items (and
to mentions for tickers), the scope text of a row, the filter of one scope, the item filters.
The window aggregate (`trends.py`) and an alert's top items (`explanations.py`) share them."""

from __future__ import annotations

from sqlalchemy import BindParameter, ColumnElement, FromClause, literal

from pipeline.scope import Scope
from pipeline.storage.tables import ClassificationRow, NewsItem, TickerMention

C = ClassificationRow.__table__.c
N = NewsItem.__table__.c
M = TickerMention.__table__.c


def scope_source(kind: str) -> FromClause:
    joined = ClassificationRow.__table__.join(NewsItem.__table__, N.id == C.item_id)
    if kind == "ticker":
        return joined.join(TickerMention.__table__, M.item_id == C.item_id)
    return joined


def scope_expression(kind: str) -> ColumnElement[str]:
    if kind == "ticker":
        return literal("ticker:") + M.symbol
    if kind == "topic":
        return literal("topic:") + C.topic
    return literal("market")


def scope_filter(scope: str) -> list[ColumnElement[bool]]:
    found = Scope.read(scope)
    if found.kind == "ticker":
        return [M.symbol == found.key]
    if found.kind == "topic":
        return [C.topic == found.key]
    return []


def item_filters(
    english_only: bool, version: str | BindParameter[str]
) -> list[ColumnElement[bool]]:
    filters = [C.model_version == version]
    if english_only:
        filters.append(N.is_english.is_(True))
    return filters
