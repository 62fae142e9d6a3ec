"""Backtest: replay stored classifications through the detector on a simulated clock.

Windows are weighed in memory from one read of the span, as
pipeline.alerting.window_evidence defines and the live SQL computes (lateness is ignored, as
DESIGN §5 says backtests do), and the same `evaluate` and `advance` decide. A step visits only
the scopes whose window changed, that hold an open alert or a true condition, or all active ones
when the baseline windows roll over: the verdict of any other scope is the one it had.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from pipeline.alerting.detection import Observation, Verdict, evaluate, is_judged, verdict_figures
from pipeline.alerting.lifecycle import OpenAlert, advance
from pipeline.alerting.rules import Rule, deepest_baseline, load_rules
from pipeline.alerting.trends import (
    baseline_ends,
    ceil_to,
    floor_to,
)
from pipeline.alerting.window_evidence import (
    Counted,
    copy_key,
    evidence_observation,
    window_evidence,
)
from pipeline.clock import as_utc
from pipeline.items.companies import issuer_symbols
from pipeline.scope import scope_kind, scope_text
from pipeline.settings import Settings
from pipeline.storage.model_version import current_model_version
from pipeline.storage.tables import ClassificationRow, NewsItem, TickerMention

NOTIFIED = ("alert.firing", "alert.repeat", "alert.resolved")


@dataclass(frozen=True)
class BacktestEvent:
    at: datetime
    rule: str
    scope: str
    event: str
    severity: str | None
    explanation: dict[str, Any]


@dataclass
class Series:
    """One scope's items in event-time order and what each counts for in a window
    (pipeline.alerting.window_evidence); observed only once complete (range sums are kept
    per width)."""

    times: list[float] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    counted: list[Counted] = field(default_factory=list)
    _sums: dict[float, CopySums] = field(default_factory=dict, repr=False)

    def window(self, start: datetime, end: datetime) -> tuple[int, int]:
        """The index range of the items in (start, end]."""
        lo = bisect.bisect_right(self.times, start.timestamp())
        return lo, bisect.bisect_right(self.times, end.timestamp())

    def observe(self, start: datetime, end: datetime) -> Observation:
        width = (end - start).total_seconds()
        if width not in self._sums:
            self._sums[width] = CopySums(self, width)
        return evidence_observation(*self._sums[width].evidence(*self.window(start, end)))


class CopySums:
    """Range sums of a series' evidence for windows of one width.

    An item with no copy within the width of it is alone in every window: its weight adds
    up through running sums. The others are grouped per window (`window_evidence`).
    """

    def __init__(self, series: Series, width_s: float) -> None:
        self._counted = series.counted
        copied = _copied_within(series.times, series.counted, width_s)
        self._evidence, self._negative = [0.0], [0.0]
        for item, grouped in zip(series.counted, copied, strict=True):
            weight = 0.0 if grouped else item.relevance
            self._evidence.append(self._evidence[-1] + weight)
            self._negative.append(self._negative[-1] + weight * item.negative)
        self._grouped = [i for i, grouped in enumerate(copied) if grouped]

    def evidence(self, lo: int, hi: int) -> tuple[float, float]:
        """(evidence, negative evidence) of the items lo..hi-1."""
        first = bisect.bisect_left(self._grouped, lo)
        last = bisect.bisect_left(self._grouped, hi)
        copies = window_evidence(self._counted[i] for i in self._grouped[first:last])
        return (
            self._evidence[hi] - self._evidence[lo] + copies[0],
            self._negative[hi] - self._negative[lo] + copies[1],
        )


def _copied_within(times: list[float], counted: list[Counted], width_s: float) -> list[bool]:
    """Whether each item has a copy less than `width_s` away (so both can share a window)."""
    copied = [False] * len(times)
    last: dict[str, int] = {}
    for index, (at, item) in enumerate(zip(times, counted, strict=True)):
        previous = last.get(item.copy_key)
        if previous is not None and at - times[previous] < width_s:
            copied[index] = copied[previous] = True
        last[item.copy_key] = index
    return copied


@dataclass
class RuleState:
    """What one rule carries from step to step: open alerts and scopes whose condition held."""

    rule: Rule
    open: dict[str, OpenAlert] = field(default_factory=dict)
    hot: set[str] = field(default_factory=set)


def run_backtest(
    engine: Engine,
    settings: Settings,
    start: datetime,
    end: datetime,
    rules: Sequence[Rule] | None = None,
) -> list[BacktestEvent]:
    """Every lifecycle event the rules would have produced between start and end."""
    active = tuple(rules) if rules is not None else load_rules(settings.alerts)
    width = timedelta(seconds=settings.trends.window_s)
    history = width * (deepest_baseline(active) + 1)
    series = load_series(engine, settings, start - history, end)
    return list(replay_rules(series, settings, active, start, end))


def replay_rules(
    series: dict[str, Series],
    settings: Settings,
    rules: Sequence[Rule],
    start: datetime,
    end: datetime,
) -> Iterator[BacktestEvent]:
    """The lifecycle events of `rules` over [start, end] on in-memory series."""
    step_s, width_s = settings.trends.step_s, settings.trends.window_s
    step = timedelta(seconds=step_s)
    states = [RuleState(rule) for rule in rules]
    windows = SlidingWindows(series, width_s)
    now = ceil_to(start, step_s)
    windows.advance(now - step)
    rolled: datetime | None = None
    baselines = BaselineCache(series, width_s)
    every_step = settings.alerts.inhibit_tickers_by_market
    while now <= end:
        changed = windows.advance(now)
        base_end = floor_to(now - timedelta(seconds=width_s), width_s)
        rollover = base_end != rolled
        if rollover:
            rolled = base_end
            baselines.clear()
        for state in states:
            visit = changed | state.hot | set(state.open)
            if rollover or every_step:
                visit |= windows.live
            if visit:
                yield from _step(state, settings, series, baselines, sorted(visit), now)
        busy = every_step or any(state.hot or state.open for state in states)
        now = now + step if busy else _next_due(now, step_s, windows.next_time(), base_end, width_s)


def _next_due(
    now: datetime, step_s: int, event: float | None, base_end: datetime, width_s: int
) -> datetime:
    """With no open alert and no true condition, nothing happens before the next item enters
    or leaves a window or the baseline rolls over: jump to that step."""
    roll = base_end + timedelta(seconds=2 * width_s)
    due = roll if event is None else min(roll, datetime.fromtimestamp(event, UTC))
    return max(now + timedelta(seconds=step_s), ceil_to(due, step_s))


class SlidingWindows:
    """Scopes with items in (now - W, now], kept as the clock moves forward."""

    def __init__(self, series: dict[str, Series], width_s: int) -> None:
        entering = [(t, scope, 1) for scope, data in series.items() for t in data.times]
        self._events = sorted(
            entering + [(t + width_s, scope, -1) for t, scope, _ in entering],
            key=lambda e: (e[0], -e[2]),
        )
        self._next = 0
        self._counts: dict[str, int] = defaultdict(int)
        self.live: set[str] = set()

    def next_time(self) -> float | None:
        """When the next item enters or leaves a window (epoch seconds)."""
        return self._events[self._next][0] if self._next < len(self._events) else None

    def advance(self, now: datetime) -> set[str]:
        """Scopes whose window changed since the previous call."""
        limit = now.timestamp()
        changed: set[str] = set()
        events = self._events
        while self._next < len(events) and events[self._next][0] <= limit:
            _, scope, delta = events[self._next]
            self._next += 1
            changed.add(scope)
            self._counts[scope] += delta
            if self._counts[scope] > 0:
                self.live.add(scope)
            else:
                self.live.discard(scope)
        return changed


class BaselineCache:
    """Each scope's baseline windows, read once per baseline period."""

    def __init__(self, series: dict[str, Series], width_s: int) -> None:
        self._series = series
        self._width = timedelta(seconds=width_s)
        self._cache: dict[tuple[str, int], list[Observation]] = {}

    def clear(self) -> None:
        self._cache.clear()

    def get(self, scope: str, now: datetime, windows: int) -> list[Observation]:
        key = (scope, windows)
        if key not in self._cache:
            ends = reversed(baseline_ends(now, int(self._width.total_seconds()), windows))
            data = self._series.get(scope)
            self._cache[key] = [
                data.observe(end - self._width, end) if data else Observation(0, 0.0)
                for end in ends
            ]
        return self._cache[key]


def _step(
    state: RuleState,
    settings: Settings,
    series: dict[str, Series],
    baselines: BaselineCache,
    scopes: Sequence[str],
    now: datetime,
) -> Iterator[BacktestEvent]:
    rule = state.rule
    width = timedelta(seconds=settings.trends.window_s)
    verdicts = _verdicts(rule, settings, series, baselines, scopes, now)
    market = verdicts.get("market")
    muted = settings.alerts.inhibit_tickers_by_market and market is not None and market.condition
    for scope in scopes:
        verdict = verdicts.get(scope)
        if verdict is not None and verdict.condition:
            state.hot.add(scope)
        else:
            state.hot.discard(scope)
        if muted and scope_kind(scope) == "ticker":
            continue
        current = state.open.get(scope)
        change = advance(current, verdict is not None and verdict.condition, rule, now)
        if change is None:
            continue
        notified = now if change.event in NOTIFIED else (current and current.last_notified_at)
        if change.state in ("resolved", "cancelled"):
            state.open.pop(scope, None)
        else:
            state.open[scope] = OpenAlert(
                0, change.state, change.held_steps, change.clear_steps, notified or None
            )
        if change.event is not None:
            why = (
                _explain(rule, scope_kind(scope), series[scope], verdict, now - width, now)
                if verdict
                else {}
            )
            severity = verdict.severity if verdict else None
            yield BacktestEvent(now, rule.name, scope, change.event, severity, why)


def _verdicts(
    rule: Rule,
    settings: Settings,
    series: dict[str, Series],
    baselines: BaselineCache,
    scopes: Sequence[str],
    now: datetime,
) -> dict[str, Verdict]:
    width = timedelta(seconds=settings.trends.window_s)
    kinds = set(rule.scope_kinds) & set(settings.trends.scopes)
    unlisted, issuers = settings.alerts.min_count_unlisted, issuer_symbols()
    verdicts = {}
    for scope in scopes:
        kind = scope_kind(scope)
        data = series.get(scope)
        if kind not in kinds or data is None:
            continue
        current = data.observe(now - width, now)
        if current.count == 0 or not is_judged(scope, current, unlisted, issuers):
            continue
        history = baselines.get(scope, now, rule.baseline_windows)
        prior = baselines.get("market", now, rule.baseline_windows)
        verdicts[scope] = evaluate(rule, kind, current, history, prior)
    return verdicts


def _explain(
    rule: Rule, kind: str, data: Series, verdict: Verdict, start: datetime, end: datetime
) -> dict[str, Any]:
    lo, hi = data.window(start, end)
    negative = [i for i in data.items[lo:hi] if i["sentiment"] == "negative"]
    negative.sort(key=lambda i: (-i["p_negative"], i["id"]))
    return {
        **verdict_figures(rule, kind, verdict),
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "top_items": [{k: v for k, v in i.items() if k != "sentiment"} for i in negative[:5]],
    }


def load_series(
    engine: Engine, settings: Settings, start: datetime, end: datetime
) -> dict[str, Series]:
    """Every scope's items in [start, end] of the current model version."""
    c, n = ClassificationRow, NewsItem
    with engine.connect() as conn:
        version = current_model_version(conn, settings.model.current_version)
        if version is None:
            return {}
        query = (
            select(
                c.item_id,
                c.event_time,
                c.topic,
                c.sentiment,
                c.p_negative,
                c.score,
                n.headline,
                n.source,
                n.url,
                n.fingerprint,
            )
            .join(n, n.id == c.item_id)
            .where(c.model_version == version, c.event_time > start, c.event_time <= end)
            .order_by(c.event_time, c.item_id)
        )
        if not settings.events.include_non_english:
            query = query.where(n.is_english.is_(True))
        rows = conn.execute(query).all()
        symbols = _symbols(conn, start, end)
    series: dict[str, Series] = defaultdict(Series)
    for row in rows:
        at = as_utc(row.event_time)
        item = {
            "id": row.item_id,
            "headline": row.headline,
            "source": row.source,
            "url": row.url,
            "score": row.score,
            "p_negative": row.p_negative,
            "sentiment": row.sentiment,
            "event_time": at.isoformat(),
        }
        key = copy_key(row.source, row.fingerprint, row.item_id)
        negative = row.sentiment == "negative"
        scopes = [("market", 1.0), (scope_text("topic", row.topic), 1.0)]
        scopes += [(scope_text("ticker", s), r) for s, r in symbols.get(row.item_id, ())]
        for scope, relevance in scopes:
            _append(series[scope], at, item, Counted(key, relevance, negative))
    return dict(series)


def _symbols(conn: Any, start: datetime, end: datetime) -> dict[str, list[tuple[str, float]]]:
    m = TickerMention
    found: dict[str, list[tuple[str, float]]] = defaultdict(list)
    rows = conn.execute(
        select(m.item_id, m.symbol, m.relevance).where(m.event_time > start, m.event_time <= end)
    )
    for item_id, symbol, relevance in rows:
        found[item_id].append((symbol, relevance))
    return found


def _append(series: Series, at: datetime, item: dict[str, Any], counted: Counted) -> None:
    series.times.append(at.timestamp())
    series.items.append(item)
    series.counted.append(counted)


def event_line(event: BacktestEvent) -> dict[str, Any]:
    """One backtest event as a JSON line (docs/backtest-jsonl.md)."""
    return {
        "at": event.at.astimezone(UTC).isoformat(),
        "rule": event.rule,
        "scope": event.scope,
        "scope_kind": scope_kind(event.scope),
        "event": event.event,
        "severity": event.severity,
        "explanation": event.explanation,
    }
