"""Trend windows per scope, computed in SQL for the window ends a step needs (DESIGN §5).

`step_windows` is what a scheduler step asks for: it writes the windows the step owes (late
items, backfill, the step's own) and returns each scope's current window with its baseline.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Float,
    FromClause,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite

from pipeline.alerting.detection import Observation
from pipeline.alerting.scope_sql import C, M, N, item_filters, scope_expression, scope_source
from pipeline.alerting.trend_sql import WORK_MEM, window_statement
from pipeline.alerting.window_evidence import evidence_observation
from pipeline.clock import as_utc
from pipeline.settings import EventSettings, TrendSettings
from pipeline.storage.trend_tables import TrendWindow, UtcDateTime

log = logging.getLogger(__name__)

T = TrendWindow.__table__
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Items classified this long before the previous step may have committed after it ran.
COMMIT_SLACK = timedelta(seconds=10)

Baseline = Mapping[str, Mapping[datetime, Observation]]


@dataclass(frozen=True)
class WindowSpec:
    """What the window SQL takes from settings: the trends section, and from the events
    section the language filter and the lateness horizon."""

    window_s: int
    step_s: int
    scopes: tuple[str, ...]
    english_only: bool
    lateness_horizon_s: float

    @classmethod
    def of(cls, trends: TrendSettings, events: EventSettings) -> WindowSpec:
        return cls(
            window_s=trends.window_s,
            step_s=trends.step_s,
            scopes=tuple(trends.scopes),
            english_only=not events.include_non_english,
            lateness_horizon_s=events.lateness_horizon_s,
        )


@dataclass(frozen=True)
class StepWindows:
    """What one step judges (plain data): each scope's current window and its baseline windows
    (`ends`, newest first), and how many window rows the step wrote."""

    step_at: datetime
    current: Mapping[str, Observation]
    baseline: Baseline
    ends: tuple[datetime, ...]
    written: int


class BaselineCache:
    """Baseline windows end W or more before the step, past the lateness horizon, so they no
    longer change: a long-running scheduler reads (and checks the version of) each hour's set
    once. Each scheduler owns one."""

    def __init__(self, keep: int = 2) -> None:
        self._keep = keep
        self._entries: dict[tuple[Any, str, tuple[datetime, ...]], Baseline] = {}

    def load(
        self,
        conn: Connection,
        spec: WindowSpec,
        version: str,
        ends: Sequence[datetime],
        now: datetime,
    ) -> Baseline:
        if spec.lateness_horizon_s >= spec.window_s:
            return _baseline_of(conn, spec, version, ends, now)  # late items change them
        key = (conn.engine, version, tuple(ends))
        if key not in self._entries:
            while len(self._entries) >= self._keep:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = _baseline_of(conn, spec, version, ends, now)
        return self._entries[key]


def step_windows(
    conn: Connection,
    spec: WindowSpec,
    version: str,
    step_at: datetime,
    now: datetime,
    *,
    ends: Sequence[datetime],
    backfill: Sequence[datetime],
    cache: BaselineCache,
) -> StepWindows:
    """Write the windows a step owes — `backfill` ends never computed, the open windows late
    items touched, the step's own — and read its current and baseline (`ends`) windows."""
    step = timedelta(seconds=spec.step_s)
    since = step_at - step - min(step, COMMIT_SLACK)
    touched = touched_ends(conn, spec, version, since, step_at)
    written = compute_windows(conn, spec, version, [*backfill, *touched, step_at], now)
    current = {scope: w[step_at] for scope, w in load_observations(conn, [step_at]).items()}
    baseline = cache.load(conn, spec, version, ends, now)
    return StepWindows(step_at, current, baseline, tuple(ends), written)


def _baseline_of(
    conn: Connection, spec: WindowSpec, version: str, ends: Sequence[datetime], now: datetime
) -> Baseline:
    """The stored baseline windows, as `version` sees them (after a model switch, the old
    model's windows are computed again first)."""
    redone = recompute_other_versions(conn, spec, version, ends, now)
    if redone:
        log.info("%d baseline windows recomputed for model version %s", len(redone), version)
    return load_observations(conn, ends)


def floor_to(moment: datetime, seconds: int) -> datetime:
    """The grid point at or before `moment` on a grid of `seconds` from the epoch."""
    elapsed = math.floor((moment - EPOCH).total_seconds() / seconds) * seconds
    return EPOCH + timedelta(seconds=elapsed)


def ceil_to(moment: datetime, seconds: int) -> datetime:
    floor = floor_to(moment, seconds)
    return floor if floor == moment else floor + timedelta(seconds=seconds)


def baseline_ends(step_at: datetime, window_s: int, windows: int) -> list[datetime]:
    """Ends of the K non-overlapping W-aligned windows ending at or before step_at - W."""
    last = floor_to(step_at - timedelta(seconds=window_s), window_s)
    return [last - timedelta(seconds=window_s * k) for k in range(windows)]


def touched_ends(
    conn: Connection, spec: WindowSpec, version: str, since: datetime, step_at: datetime
) -> list[datetime]:
    """Earlier, still open W-aligned window ends that items classified after `since` fall into.

    Those are the windows a baseline will read, so they take late items until the horizon;
    the other sliding windows stay as their step saw them (what the detector judged).
    """
    # OFFSET 0 keeps the planner on the processed_at index: min(event_time) alone invites a
    # walk of the event_time index from the oldest row.
    recent = (
        select(C.event_time.label("event_time"))
        .where(C.model_version == version, C.processed_at > since)
        .offset(0)
        .subquery()
    )
    earliest = conn.execute(
        select(func.min(recent.c.event_time)).where(recent.c.event_time <= step_at)
    ).scalar_one_or_none()
    if earliest is None:
        return []
    width = spec.window_s
    horizon = timedelta(seconds=spec.lateness_horizon_s)
    first = max(ceil_to(as_utc(earliest), width), ceil_to(step_at - horizon, width))
    count = math.ceil((step_at - first).total_seconds() / width)
    return [first + timedelta(seconds=width * i) for i in range(max(count, 0))]


def compute_windows(
    conn: Connection, spec: WindowSpec, version: str, ends: Sequence[datetime], now: datetime
) -> int:
    """Upsert every scope's window at each of `ends`; returns the number of rows written."""
    if not ends:
        return 0
    width = timedelta(seconds=spec.window_s)
    if conn.dialect.name == "postgresql":
        conn.execute(WORK_MEM)  # the aggregate sorts ~100k rows: keep them in memory
        statement = window_statement(spec.scopes, spec.english_only)
        params = {"ends": sorted(set(ends)), "lo": min(ends) - width, "hi": max(ends),
                  "window_s": spec.window_s, "version": version, "now": now}
        return conn.execute(statement, params).rowcount
    return compute_windows_portable(conn, spec, version, ends, now)


def compute_windows_portable(
    conn: Connection, spec: WindowSpec, version: str, ends: Sequence[datetime], now: datetime
) -> int:
    """The same windows, one statement per kind and end: SQLite, and the reference in tests."""
    width = timedelta(seconds=spec.window_s)
    written = 0
    for kind in spec.scopes:
        statement = _window_upsert(conn.dialect.name, kind, spec.english_only)
        for end in sorted(set(ends)):
            params = {"window_start": end - width, "window_end": end, "version": version,
                      "now": now}
            written += conn.execute(statement, params).rowcount
    return written


def recompute_other_versions(
    conn: Connection, spec: WindowSpec, version: str, ends: Sequence[datetime], now: datetime
) -> list[datetime]:
    """Compute again, for `version`, the windows at `ends` another model version computed (a
    model switch leaves them behind), dropping that version's rows there: a baseline never
    mixes two models. Returns the ends recomputed."""
    foreign = (TrendWindow.window_end.in_(list(ends)), TrendWindow.model_version != version)
    found = conn.execute(select(TrendWindow.window_end).where(*foreign).distinct()).scalars()
    stale = sorted({as_utc(end) for end in found})
    if stale:
        conn.execute(delete(TrendWindow).where(*foreign))
        compute_windows(conn, spec, version, stale, now)
    return stale


def load_observations(
    conn: Connection, ends: Sequence[datetime]
) -> dict[str, dict[datetime, Observation]]:
    """Stored windows at `ends` as the detector sees them (their evidence), by scope then end
    (a step reads ~25 per scope)."""
    raw_end = type_coerce(T.c.window_end, DateTime(timezone=True))
    rows = conn.execute(
        select(
            TrendWindow.scope, raw_end, TrendWindow.evidence, TrendWindow.negative_evidence
        ).where(TrendWindow.window_end.in_(list(ends)))
    ).all()
    moments: dict[Any, datetime] = {}  # few distinct values: normalise each once
    found: dict[str, dict[datetime, Observation]] = {}
    for scope, end, evidence, negative in rows:
        moment = moments.get(end) or moments.setdefault(end, as_utc(end))
        found.setdefault(scope, {})[moment] = evidence_observation(evidence, negative)
    return found


@functools.lru_cache(maxsize=32)
def _window_upsert(dialect_name: str, kind: str, english_only: bool) -> Any:
    """Built once per kind: building SQLAlchemy statements per step costs more than running them."""
    bounds = select(
        bindparam("window_start", type_=UtcDateTime).label("window_start"),
        bindparam("window_end", type_=UtcDateTime).label("window_end"),
    ).subquery("ends")
    return _upsert(dialect_name, _aggregate(kind, bounds, english_only))


def _aggregate(kind: str, bounds: FromClause, english_only: bool) -> Select[Any]:
    r = _weighted_rows(kind, bounds, english_only)
    negative = func.sum(case((r.sentiment == "negative", 1), else_=0))
    positive = func.sum(case((r.sentiment == "positive", 1), else_=0))
    total = func.count()
    return select(
        r.scope,
        r.window_end,
        r.window_start,
        literal(kind).label("scope_kind"),
        total.label("count"),
        func.count(func.distinct(r.source)).label("sources"),
        negative.label("negative"),
        positive.label("positive"),
        (cast(negative, Float) / total).label("negative_share"),
        (cast(positive, Float) / total).label("positive_share"),
        (
            func.sum(r.confidence * r.weight * r.score)
            / func.nullif(func.sum(r.confidence * r.weight), 0)
        ).label("mean_score"),
        func.count(func.distinct(r.content_hash)).label("reprint_adjusted"),
        func.sum(r.weight).label("evidence"),
        func.coalesce(func.sum(case((r.sentiment == "negative", r.weight))), 0.0).label(
            "negative_evidence"
        ),
        bindparam("version", type_=String).label("model_version"),
        bindparam("now", type_=UtcDateTime).label("computed_at"),
    ).group_by(r.window_end, r.window_start, r.scope)


def _weighted_rows(kind: str, bounds: FromClause, english_only: bool) -> Any:
    """Each item of each window with its weight: a group of copies
    (pipeline.alerting.window_evidence) shares the largest relevance among them, split evenly."""
    confidence = case(
        (and_(C.p_negative >= C.p_neutral, C.p_negative >= C.p_positive), C.p_negative),
        (C.p_neutral >= C.p_positive, C.p_neutral),
        else_=C.p_positive,
    )
    scope = scope_expression(kind)
    relevance = M.relevance if kind == "ticker" else cast(literal_column("1.0"), Float)
    copies = (scope, bounds.c.window_end, N.source, func.coalesce(N.fingerprint, N.id))
    weight = func.max(relevance).over(partition_by=copies) / func.count().over(
        partition_by=copies
    )
    in_window = and_(C.event_time > bounds.c.window_start, C.event_time <= bounds.c.window_end)
    return (
        select(
            scope.label("scope"),
            bounds.c.window_end,
            bounds.c.window_start,
            C.sentiment,
            C.score,
            confidence.label("confidence"),
            N.source,
            N.content_hash,
            weight.label("weight"),
        )
        .select_from(bounds.join(scope_source(kind), in_window))
        .where(*item_filters(english_only, bindparam("version", type_=String)))
        .subquery("weighted")
        .c
    )


def _upsert(dialect_name: str, query: Select[Any]) -> Any:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    columns = [c.name for c in query.selected_columns]
    statement = dialect.insert(T).from_select(columns, query)
    updated = {name: statement.excluded[name] for name in columns if name not in _KEY}
    return statement.on_conflict_do_update(index_elements=list(_KEY), set_=updated)


_KEY = ("scope", "window_end")
