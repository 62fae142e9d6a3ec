"""Backtest: replay stored classifications through the detector on a simulated clock.

Windows are counted in memory from one read of the span (lateness is ignored, as DESIGN §5
says backtests do), the same `evaluate` and `advance` decide, and nothing is written or sent.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from pipeline.alerts import OpenAlert, advance
from pipeline.clock import SimulatedClock
from pipeline.detection import Observation, Verdict, evaluate
from pipeline.rules import Rule, load_rules
from pipeline.settings import Settings
from pipeline.storage.tables import ClassificationRow, NewsItem, TickerMention
from pipeline.trends import as_utc, baseline_ends, ceil_to, current_model_version, scope_kind

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
    """One scope's items in event-time order, with running negative counts for range sums."""

    times: list[float] = field(default_factory=list)
    negatives: list[int] = field(default_factory=lambda: [0])
    items: list[dict[str, Any]] = field(default_factory=list)

    def window(self, start: datetime, end: datetime) -> tuple[int, int, int]:
        lo = bisect.bisect_right(self.times, start.timestamp())
        hi = bisect.bisect_right(self.times, end.timestamp())
        return lo, hi, self.negatives[hi] - self.negatives[lo]

    def observe(self, start: datetime, end: datetime) -> Observation:
        lo, hi, negative = self.window(start, end)
        return Observation(hi - lo, negative / (hi - lo) if hi > lo else 0.0)


def run_backtest(
    engine: Engine, settings: Settings, start: datetime, end: datetime,
    rules: Sequence[Rule] | None = None,
) -> list[BacktestEvent]:
    """Every lifecycle event the rules would have produced between start and end."""
    active = tuple(rules) if rules is not None else load_rules(settings.alerts)
    width = timedelta(seconds=settings.trends.window_s)
    history = width * (max(r.baseline_windows for r in active) + 1)
    series = load_series(engine, settings, start - history, end)
    clock = SimulatedClock(ceil_to(start, settings.trends.step_s))
    states: dict[tuple[str, str], OpenAlert] = {}
    events: list[BacktestEvent] = []
    while clock.now() <= end:
        for rule in active:
            events.extend(_step(rule, settings, series, states, clock.now()))
        clock.advance(timedelta(seconds=settings.trends.step_s))
    return events


def _step(rule: Rule, settings: Settings, series: dict[str, Series],
          states: dict[tuple[str, str], OpenAlert], now: datetime) -> Iterator[BacktestEvent]:
    width = timedelta(seconds=settings.trends.window_s)
    base = list(reversed(baseline_ends(now, settings.trends.window_s, rule.baseline_windows)))
    verdicts = _verdicts(rule, settings, series, now, base)
    market = verdicts.get("market")
    muted = settings.alerts.inhibit_tickers_by_market and market is not None and market.condition
    for scope in sorted(set(verdicts) | {s for r, s in states if r == rule.name}):
        if muted and scope_kind(scope) == "ticker":
            continue
        verdict = verdicts.get(scope)
        current = states.get((rule.name, scope))
        change = advance(current, verdict is not None and verdict.condition, rule, now)
        if change is None:
            continue
        notified = now if change.event in NOTIFIED else (current and current.last_notified_at)
        if change.state in ("resolved", "cancelled"):
            states.pop((rule.name, scope), None)
        else:
            states[(rule.name, scope)] = OpenAlert(0, change.state, change.held_steps,
                                                   change.clear_steps, notified or None)
        if change.event is not None:
            why = _explain(rule, series[scope], verdict, now - width, now) if verdict else {}
            severity = verdict.severity if verdict else None
            yield BacktestEvent(now, rule.name, scope, change.event, severity, why)


def _verdicts(rule: Rule, settings: Settings, series: dict[str, Series], now: datetime,
              base: Sequence[datetime]) -> dict[str, Verdict]:
    width = timedelta(seconds=settings.trends.window_s)
    kinds = set(rule.scope_kinds) & set(settings.trends.scopes)
    verdicts = {}
    for scope, data in series.items():
        kind = scope_kind(scope)
        current = data.observe(now - width, now)
        if kind not in kinds or current.count == 0:
            continue
        history = [data.observe(end - width, end) for end in base]
        verdicts[scope] = evaluate(rule, kind, current, history)
    return verdicts


def _explain(rule: Rule, data: Series, verdict: Verdict, start: datetime,
             end: datetime) -> dict[str, Any]:
    lo, hi, _ = data.window(start, end)
    negative = [i for i in data.items[lo:hi] if i["sentiment"] == "negative"]
    negative.sort(key=lambda i: (-i["p_negative"], i["id"]))
    return {
        "value": verdict.value, "count": verdict.count, "baseline_median": verdict.median,
        "baseline_scale": verdict.scale, "z": verdict.z, "threshold": rule.z_threshold,
        "window_start": start.isoformat(), "window_end": end.isoformat(),
        "top_items": [
            {k: v for k, v in i.items() if k != "sentiment"} for i in negative[:5]
        ],
    }


def load_series(engine: Engine, settings: Settings, start: datetime,
                end: datetime) -> dict[str, Series]:
    """Every scope's items in [start, end] of the current model version."""
    c, n = ClassificationRow, NewsItem
    with engine.connect() as conn:
        version = current_model_version(conn, settings)
        if version is None:
            return {}
        query = (
            select(c.item_id, c.event_time, c.topic, c.sentiment, c.p_negative, c.score,
                   n.headline, n.source, n.url)
            .join(n, n.id == c.item_id)
            .where(c.model_version == version, c.event_time > start, c.event_time <= end)
            .order_by(c.event_time, c.item_id)
        )
        if not settings.events.include_non_english:
            query = query.where(n.is_english.is_(True))
        rows = conn.execute(query).all()
        symbols = _symbols(conn, start, end)
    series: dict[str, Series] = defaultdict(Series)
    for item_id, when, topic, sentiment, p_neg, score, headline, source, url in rows:
        at = as_utc(when)
        item = {"id": item_id, "headline": headline, "source": source, "url": url,
                "score": score, "p_negative": p_neg, "sentiment": sentiment,
                "event_time": at.isoformat()}
        scopes = ["market", f"topic:{topic}", *(f"ticker:{s}" for s in symbols.get(item_id, ()))]
        for scope in scopes:
            _append(series[scope], at, sentiment == "negative", item)
    return dict(series)


def _symbols(conn: Any, start: datetime, end: datetime) -> dict[str, list[str]]:
    m = TickerMention
    found: dict[str, list[str]] = defaultdict(list)
    rows = conn.execute(
        select(m.item_id, m.symbol).where(m.event_time > start, m.event_time <= end)
    )
    for item_id, symbol in rows:
        found[item_id].append(symbol)
    return found


def _append(series: Series, at: datetime, negative: bool, item: dict[str, Any]) -> None:
    series.times.append(at.timestamp())
    series.negatives.append(series.negatives[-1] + int(negative))
    series.items.append(item)
