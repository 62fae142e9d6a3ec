"""Alert quality against drop days (PLAN.md): precision, recall (strict and lenient), lag, and
the two baselines (random volume-weighted alerts; each ticker's busiest tweet days)."""

from __future__ import annotations

import bisect
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

from bench.market_moves import DropDay, StreamVolume, TickerPrices, open_at

Alerts = dict[str, list[datetime]]  # ticker -> fired times


@dataclass(frozen=True)
class Truth:
    """One drop definition over one period: prices, excluded days and the recall denominator."""

    prices: dict[str, TickerPrices]
    definition: str
    exclude: set[date]
    eligible: list[DropDay]


def alert_hits(truth: Truth, symbol: str, moment: datetime) -> bool | None:
    """Is one of the first two closes at or after `moment` a drop day? None: not judgeable."""
    ticker = truth.prices.get(symbol)
    if ticker is None:
        return None
    i = ticker.first_close_at_or_after(moment)
    if i + 1 >= len(ticker.closes):
        return None
    drops = ticker.drops[truth.definition]
    return any(drops[j] and ticker.days[j] not in truth.exclude for j in (i, i + 1))


def precision(truth: Truth, alerts: Alerts) -> dict[str, Any]:
    judged = [alert_hits(truth, s, t) for s, times in alerts.items() for t in times]
    scored = [h for h in judged if h is not None]
    hits = sum(scored)
    return {
        "alerts": len(scored),
        "hits": hits,
        "precision": hits / len(scored) if scored else None,
        "not_judgeable": len(judged) - len(scored),
    }


def recall(truth: Truth, alerts: Alerts) -> dict[str, Any]:
    strict, lenient, lags, early = 0, 0, [], 0
    for drop in truth.eligible:
        times = sorted(alerts.get(drop.symbol, []))
        first = _first_in(times, drop.previous_close, drop.close)
        if first is not None:
            strict += 1
            lags.append((drop.close - first).total_seconds() / 3600)
            early += int(first < open_at(drop.day))
        end = drop.next_close or drop.close
        lenient += int(_first_in(times, drop.previous_close, end) is not None)
    total = len(truth.eligible)
    return {
        "eligible_drop_days": total,
        "strict_hits": strict,
        "recall_strict": strict / total if total else None,
        "lenient_hits": lenient,
        "recall_lenient": lenient / total if total else None,
        "lag_hours_median": statistics.median(lags) if lags else None,
        "lag_hours_mean": statistics.fmean(lags) if lags else None,
        "hits_before_open": early,
        "share_before_open": early / strict if strict else None,
    }


def _first_in(times: list[datetime], after: datetime, until: datetime) -> datetime | None:
    """The first time in (after, until]."""
    i = bisect.bisect_right(times, after)
    return times[i] if i < len(times) and times[i] <= until else None


def score(truth: Truth, alerts: Alerts) -> dict[str, Any]:
    return {**precision(truth, alerts), **recall(truth, alerts)}


def per_ticker_month(alerts: Alerts, tickers: int, months: float) -> dict[str, Any]:
    cells = Counter((s, t.strftime("%Y-%m")) for s, times in alerts.items() for t in times)
    total = sum(cells.values())
    return {
        "alerts": total,
        "per_ticker_month_mean": total / (tickers * months) if tickers and months else None,
        "per_ticker_month_max": max(cells.values(), default=0),
        "ticker_months_with_alerts": len(cells),
    }


def random_baseline(
    truth: Truth,
    volume: StreamVolume,
    alerts: Alerts,
    start: datetime,
    end: datetime,
    draws: int,
    observed: float | None,
    seed: int = 7,
) -> dict[str, Any]:
    """Random alerts at the times of random tweets of the same ticker (volume weighted), the
    same number per ticker as the rule's judgeable alerts; `draws` draws. The p-value is the
    share of draws at least as precise as `observed`."""
    rng = np.random.default_rng(seed)
    counts = Counter(
        s for s, times in alerts.items() for t in times if alert_hits(truth, s, t) is not None
    )
    drop_ids = {(d.symbol, d.index): k for k, d in enumerate(truth.eligible)}
    hit_sum = np.zeros(draws)
    covered_columns, total = [], 0
    for symbol, count in counts.items():
        tweets = [
            t
            for t in volume.in_period(symbol, start, end)
            if alert_hits(truth, symbol, t) is not None
        ]
        if not tweets:
            continue
        hits = np.array([bool(alert_hits(truth, symbol, t)) for t in tweets])
        covers = np.array([_covered(truth, drop_ids, symbol, t) for t in tweets])
        picks = rng.integers(0, len(tweets), size=(draws, count))
        hit_sum += hits[picks].sum(axis=1)
        covered_columns.append(covers[picks])
        total += count
    precisions = hit_sum / total if total else np.zeros(draws)
    recalls = _draw_recalls(covered_columns, draws, len(truth.eligible))
    return {
        "draws": draws,
        "alerts_per_draw": total,
        "precision": _summary(precisions),
        "recall_strict": _summary(recalls),
        "p_value_precision": (None if observed is None else float((precisions >= observed).mean())),
    }


def _covered(
    truth: Truth, drop_ids: dict[tuple[str, int], int], symbol: str, moment: datetime
) -> int:
    """The eligible drop day a time at `moment` would be a strict recall hit for, or -1."""
    ticker = truth.prices[symbol]
    i = ticker.first_close_at_or_after(moment)
    return drop_ids.get((symbol, i), -1)


def _draw_recalls(columns: list[np.ndarray], draws: int, denominator: int) -> np.ndarray:
    if not columns or not denominator:
        return np.zeros(draws)
    matrix = np.concatenate(columns, axis=1)
    found = [len(set(row[row >= 0].tolist())) for row in matrix]
    return np.array(found) / denominator


def _summary(values: np.ndarray) -> dict[str, float]:
    return {
        "mean": float(values.mean()),
        "p95": float(np.percentile(values, 95)),
        "p99": float(np.percentile(values, 99)),
    }


def busiest_days(volume: StreamVolume, alerts: Alerts, start: datetime, end: datetime) -> Alerts:
    """Each ticker's busiest tweet days (UTC), as many as the rule's alerts for it, each timed
    at the day's median tweet (looks ahead over the period: a bar, not a rule)."""
    chosen: Alerts = {}
    for symbol, times in alerts.items():
        by_day: dict[date, list[datetime]] = defaultdict(list)
        for t in volume.in_period(symbol, start, end):
            by_day[t.date()].append(t)
        ranked = sorted(by_day.items(), key=lambda kv: (-len(kv[1]), kv[0]))[: len(times)]
        chosen[symbol] = sorted(day[len(day) // 2] for _, day in ranked)
    return chosen
