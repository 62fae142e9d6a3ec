"""When the demo stream's items happen: the market's flow by hour, the issuer's coverage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from random import Random

# Items per hour for the whole market, by UTC hour: quiet nights, busy US hours.
MARKET_RATE_BY_HOUR = (14,) * 6 + (32,) * 6 + (62,) * 9 + (24,) * 3
MARKET_MIX = (0.22, 0.50, 0.28)  # negative, neutral, positive (SENTIMENTS order)
CALM_MIX = (0.08, 0.62, 0.30)
# After the burst: an hour of negative follow-ups, then hours without bad news. The share of
# negative items in a window then only falls, so the alert resolves once and stays resolved.
AFTERMATH_MIX = (1.0, 0.0, 0.0)
SETTLED_MIX = (0.0, 0.7, 0.3)
AFTERMATH = timedelta(hours=1)
SETTLING = timedelta(hours=5)
BURST_ITEMS = 60
FOREIGN_BURST_POSITIONS = (5, 20)

Gap = Callable[[Random, datetime], float]  # minutes until the issuer's next item


@dataclass(frozen=True)
class Slot:
    """A moment at which the stream publishes something of a kind, with a sentiment mix."""

    at: datetime
    kind: str  # "market", "issuer", "burst" or "burst_foreign"
    mix: tuple[float, float, float] = MARKET_MIX

    @property
    def calm(self) -> bool:
        """A quiet stretch, in which the issuer gets no more than one negative item an hour."""
        return self.kind == "issuer" and self.mix[0] < 0.3


def build_timeline(
    rng: Random, start: datetime, end: datetime, burst_start: datetime, burst_end: datetime
) -> list[Slot]:
    """Every slot of the stream between `start` and `end`, in time order."""
    slots = _market(rng, start, end)
    slots += _issuer(rng, start, burst_start, _calm_gap, lambda at: CALM_MIX)
    slots += _burst(rng, burst_start, burst_end)
    aftermath_end = burst_end + AFTERMATH

    def mix(at: datetime) -> tuple[float, float, float]:
        if at < aftermath_end:
            return AFTERMATH_MIX
        return SETTLED_MIX if at < aftermath_end + SETTLING else CALM_MIX

    slots += _issuer(rng, burst_end, end, _busy_gap, mix)
    return sorted(slots, key=lambda s: s.at)


def _market(rng: Random, start: datetime, end: datetime) -> list[Slot]:
    slots: list[Slot] = []
    at = start
    while True:
        at += timedelta(seconds=rng.expovariate(MARKET_RATE_BY_HOUR[at.hour] / 3600))
        if at >= end:
            return slots
        slots.append(Slot(_to_millis(at), "market"))


def _issuer(
    rng: Random,
    start: datetime,
    end: datetime,
    gap: Gap,
    mix: Callable[[datetime], tuple[float, float, float]],
) -> list[Slot]:
    slots: list[Slot] = []
    at = start + timedelta(minutes=gap(rng, start))
    while at < end:
        slots.append(Slot(_to_millis(at), "issuer", mix(at)))
        at += timedelta(minutes=gap(rng, at))
    return slots


def _burst(rng: Random, start: datetime, end: datetime) -> list[Slot]:
    # Front-loaded: the news breaks, then the follow-ups thin out.
    span = (end - start).total_seconds() - 20
    offsets = sorted(20 + span * rng.random() ** 1.5 for _ in range(BURST_ITEMS))
    return [
        Slot(
            _to_millis(start + timedelta(seconds=s)),
            "burst_foreign" if n in FOREIGN_BURST_POSITIONS else "burst",
            (1.0, 0.0, 0.0),
        )
        for n, s in enumerate(offsets)
    ]


def _calm_gap(rng: Random, at: datetime) -> float:
    # 3-8 items an hour, more during US trading hours.
    return rng.uniform(9, 15) if 12 <= at.hour < 21 else rng.uniform(12, 19)


def _busy_gap(rng: Random, at: datetime) -> float:
    # At most 11 minutes apart: every 1-hour window after the burst holds at least 5 items.
    return rng.uniform(7, 11)


def _to_millis(at: datetime) -> datetime:
    return at.replace(microsecond=at.microsecond // 1000 * 1000)
