"""What a report may be asked for: a known topic or ticker, a forward range; and where data is.

`finsent report` and the API share these, so a typo gets the same one-line answer in both.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, func, select

from pipeline.clock import as_utc
from pipeline.errors import ConfigError
from pipeline.items.companies import load_companies
from pipeline.model.labels import TOPICS
from pipeline.reporting.queries import in_scope
from pipeline.reporting.views import scored_items
from pipeline.scope import Scope
from pipeline.storage.model_version import current_model_version
from pipeline.storage.tables import ModelVersion, TickerMention


class ReportInputError(ConfigError):
    """A report was asked for a range or scope that cannot be answered."""


class DataSpan(BaseModel):
    """The first and last event time of the items a scope holds."""

    model_config = ConfigDict(frozen=True)

    first: datetime
    last: datetime

    def __str__(self) -> str:
        return f"{self.first:%Y-%m-%d %H:%M} to {self.last:%Y-%m-%d %H:%M} UTC"


def check_range(start: datetime, end: datetime) -> None:
    """A range runs forward: `start` strictly before `end`."""
    if as_utc(start) >= as_utc(end):
        raise ReportInputError(
            f"the range is reversed or empty: from {as_utc(start):%Y-%m-%d %H:%M} is not before"
            f" to {as_utc(end):%Y-%m-%d %H:%M} UTC"
        )


def check_scope(conn: Connection, scope: Scope) -> None:
    """A topic must be one of the model's labels; a ticker one seen in the data or the company
    dictionary. The error names the closest known ones. Cheap when the scope is known: one
    indexed look-up at most; the full lists are read only to suggest."""
    key = scope.key or ""
    if scope.kind == "topic" and key not in (topics := known_topics(conn)):
        _refuse("topic", key, topics)
    if scope.kind == "ticker" and key not in dictionary_tickers() and not _mentioned(conn, key):
        _refuse("ticker", key, known_tickers(conn))


def known_topics(conn: Connection) -> frozenset[str]:
    """The current model's topic labels (the built-in set if its manifest has none)."""
    version = current_model_version(conn)
    manifest = conn.execute(
        select(ModelVersion.manifest).where(ModelVersion.version == version)
    ).scalar()
    labels = ((manifest or {}).get("labels") or {}).get("topics") or TOPICS
    return frozenset(str(t) for t in labels)


def known_tickers(conn: Connection) -> frozenset[str]:
    """Every symbol the data mentions, plus the company dictionary's."""
    m = TickerMention.__table__.c
    rows: list[object] = list(conn.execute(select(m.symbol).distinct()).scalars())
    return dictionary_tickers() | {str(symbol) for symbol in rows}


@functools.cache
def dictionary_tickers() -> frozenset[str]:
    """The bundled company dictionary's symbols (read once per process)."""
    return frozenset(c.ticker for c in load_companies())


def _mentioned(conn: Connection, symbol: str) -> bool:
    m = TickerMention.__table__.c
    return conn.execute(select(m.symbol).where(m.symbol == symbol).limit(1)).first() is not None


def data_span(conn: Connection, scope: Scope) -> DataSpan | None:
    """When the scope's items begin and end (current model, English), or None if it has none."""
    times = scored_items.c.event_time
    query = in_scope(select(func.min(times), func.max(times)), scope)
    first, last = conn.execute(query).one()
    if not isinstance(first, datetime) or not isinstance(last, datetime):
        return None
    return DataSpan(first=as_utc(first), last=as_utc(last))


def empty_note(conn: Connection, scope: Scope) -> str:
    """What to say when the range holds nothing: where the scope's (or any) data is."""
    span = data_span(conn, scope)
    if span is not None:
        return f"no data in range; {scope} data spans {span}"
    market = data_span(conn, Scope(kind="market"))
    if market is None:
        return "no data in range; the database holds no scored items yet"
    return f"no data in range; {scope} has no items at all; data spans {market}"


def suggestions(word: str, known: Iterable[str]) -> list[str]:
    """Up to three known names close to `word` or containing it, compared without case."""
    by_folded = {k.casefold(): k for k in sorted(known)}
    folded = word.casefold()
    holding = [k for k in by_folded if len(folded) >= 3 and folded in k]
    close = difflib.get_close_matches(folded, list(by_folded), n=3, cutoff=0.6)
    return [by_folded[c] for c in dict.fromkeys([*close, *holding])][:3]


def _refuse(kind: str, key: str, known: frozenset[str]) -> None:
    close = suggestions(key, known)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    listed = "" if close or kind == "ticker" else f"; topics: {', '.join(sorted(known))}"
    raise ReportInputError(f"unknown {kind} {key!r}{hint}{listed}")
