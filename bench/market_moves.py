"""Ground truth for alert quality (PLAN.md, "Alert-quality definitions"): drop days from the
daily prices, trading-day closes, and the stream's own ticker volume."""

from __future__ import annotations

import bisect
import csv
import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
SIGMA_WINDOW = 60
SIGMA_DROP = -2.5
PCT_DROP = -0.03
MARKET_WIDE_TICKERS = 8


def close_at(day: date) -> datetime:
    return datetime.combine(day, time(16, 0), NEW_YORK).astimezone(UTC)


def open_at(day: date) -> datetime:
    return datetime.combine(day, time(9, 30), NEW_YORK).astimezone(UTC)


@dataclass(frozen=True)
class TickerPrices:
    """One ticker's trading days, their closes (UTC) and which are drop days, per definition."""

    symbol: str
    days: list[date]
    closes: list[datetime]
    drops: dict[str, list[bool]]

    def first_close_at_or_after(self, moment: datetime) -> int:
        return bisect.bisect_left(self.closes, moment)


def read_prices(path: Path) -> TickerPrices:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [
            (date.fromisoformat(r["Date"]), float(r["Adj Close"])) for r in csv.DictReader(handle)
        ]
    days = [d for d, _ in rows]
    returns = [None, *((b / a) - 1 for (_, a), (_, b) in pairwise(rows))][: len(rows)]
    sigma_drop, pct_drop = [], []
    for i, value in enumerate(returns):
        prior = [r for r in returns[max(0, i - SIGMA_WINDOW) : i] if r is not None]
        ready = value is not None and len(prior) == SIGMA_WINDOW
        sigma = statistics.stdev(prior) if ready else 0.0
        sigma_drop.append(ready and value is not None and value <= SIGMA_DROP * sigma)
        pct_drop.append(ready and value is not None and value <= PCT_DROP)
    return TickerPrices(
        path.stem, days, [close_at(d) for d in days], {"sigma": sigma_drop, "pct3": pct_drop}
    )


def read_all_prices(folder: Path) -> dict[str, TickerPrices]:
    return {p.stem: read_prices(p) for p in sorted(folder.glob("*.csv"))}


def market_wide_days(prices: dict[str, TickerPrices], definition: str) -> set[date]:
    """Days on which at least 8 tickers drop (reported separately)."""
    dropping: dict[date, int] = defaultdict(int)
    for ticker in prices.values():
        for day, drop in zip(ticker.days, ticker.drops[definition], strict=True):
            dropping[day] += int(drop)
    return {day for day, n in dropping.items() if n >= MARKET_WIDE_TICKERS}


@dataclass
class StreamVolume:
    """Tweet times per ticker, from the stream's own `tickers` column (not finsent's parsing)."""

    times: dict[str, list[datetime]] = field(default_factory=lambda: defaultdict(list))

    def between(self, symbol: str, start: datetime, end: datetime) -> int:
        found = self.times.get(symbol, [])
        return bisect.bisect_left(found, end) - bisect.bisect_left(found, start)

    def in_period(self, symbol: str, start: datetime, end: datetime) -> list[datetime]:
        found = self.times.get(symbol, [])
        return found[bisect.bisect_left(found, start) : bisect.bisect_left(found, end)]


def read_stream_volume(path: Path, limit: int | None = None) -> StreamVolume:
    volume = StreamVolume()
    with path.open(encoding="utf-8", newline="") as handle:
        for index, row in enumerate(csv.DictReader(handle)):
            if limit is not None and index >= limit:
                break
            at = datetime.fromisoformat(row["timestamp_utc"].replace("Z", "+00:00"))
            for symbol in _symbols(row["tickers"]):
                volume.times[symbol].append(at)
    for times in volume.times.values():
        times.sort()
    return volume


def _symbols(raw: str) -> Iterable[str]:
    return (s.strip() for s in raw.split(";") if s.strip())


@dataclass(frozen=True)
class DropDay:
    symbol: str
    index: int
    day: date
    close: datetime
    previous_close: datetime
    next_close: datetime | None
    tweets_48h: int


def eligible_drop_days(
    prices: dict[str, TickerPrices],
    volume: StreamVolume,
    definition: str,
    start: datetime,
    end: datetime,
    exclude: set[date],
    min_tweets: int = 10,
) -> list[DropDay]:
    """The fixed recall denominator: drop days whose close lies in [start, end), not on an
    excluded (market-wide) day, with >= 10 tweets naming the ticker in the 48 h before."""
    found = []
    for ticker in prices.values():
        for i, drop in enumerate(ticker.drops[definition]):
            close = ticker.closes[i]
            if not drop or i == 0 or not start <= close < end or ticker.days[i] in exclude:
                continue
            tweets = volume.between(ticker.symbol, close - timedelta(hours=48), close)
            if tweets >= min_tweets:
                after = ticker.closes[i + 1] if i + 1 < len(ticker.closes) else None
                found.append(
                    DropDay(
                        ticker.symbol, i, ticker.days[i], close, ticker.closes[i - 1], after, tweets
                    )
                )
    return found
