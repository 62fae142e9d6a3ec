"""The events of a chaos run: bulk news, known-bad messages, calm history and spike bursts.

Spike tickers get calm (neutral) items before and during the run and, at chosen moments,
a burst of negative ones. Items produced during the run, calm or burst, are dated in the
future: with allowed skew 0 their event time is the moment they are processed, so a burst
always lands in the current window however late, and the calm items before it fill the
baseline windows just before it (dated at the start, they all fell into the first window,
and a burst late in a long run found no baseline and could not fire). Their texts differ
only in numbers, which makes them near-duplicates (docs/spike-rule.md): each comes from a
source of its own, so that each counts, as reports of one event by many outlets do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# Words the tiny test model learned (see pipeline/training/testbundle.py).
CALM = "Initech schedules after the ceo appointment"
NEGATIVE = "Globex plunges after the lawsuit and regulator probe"
_VERBS = ("reports", "files", "updates", "announces", "comments on", "soars", "slumps")
_NAMES = ("Zentrix", "Quolvar", "Brightmoor", "Kelvane", "Ostrava", "Maplewick")
_PHRASES = ("quarterly earnings and revenue", "crude oil output", "its ipo listing")


@dataclass(frozen=True)
class Outbound:
    """One record to produce; `good` ones must be stored, the others dead-lettered."""

    key: bytes | None
    value: bytes | None
    good: bool
    item_id: str | None = None
    kind: str = "bulk"


def news(item_id: str, headline: str, published_at: datetime, **extra: Any) -> Outbound:
    event = {
        "id": item_id,
        "source": f"wire-{sum(item_id.encode()) % 5}",
        "published_at": published_at.isoformat(),
        "headline": headline,
        **extra,
    }
    return Outbound(item_id.encode(), json.dumps(event).encode(), True, item_id)


def bulk(index: int, now: datetime) -> Outbound:
    """Ordinary news; every tenth repeats an earlier text under its own id (a reprint)."""
    n = index - index % 10 if index % 10 == 9 else index
    headline = f"{_NAMES[n % 6]} {_VERBS[n % 7]} {_PHRASES[n % 3]} number {n}"
    return news(f"g{index}", headline, now - timedelta(seconds=index % 3000))


def bad(index: int, max_event_bytes: int) -> Outbound:
    """A known-bad message of one of eight kinds, chosen by `index`."""
    ok = {"source": "wire", "published_at": "2026-11-28T10:00:00+00:00", "headline": "x"}
    kinds: list[tuple[str, bytes | None]] = [
        ("json", b'{"source": "wire", "headline": '),
        ("encoding", b'{"headline": "\xff\xfe bad bytes"}'),
        (
            "missing_field",
            json.dumps({"source": "wire", "published_at": ok["published_at"]}).encode(),
        ),
        ("schema_version", json.dumps({**ok, "schema_version": "2.0"}).encode()),
        ("not_object", b"[1, 2, 3]"),
        ("empty", b"   "),
        ("tombstone", None),
        ("oversize", json.dumps({**ok, "body": "x" * (max_event_bytes + 10)}).encode()),
    ]
    kind, value = kinds[index % len(kinds)]
    return Outbound(f"bad{index}".encode(), value, False, None, kind)


ARRIVAL = timedelta(days=1)


def at_arrival(now: datetime) -> datetime:
    """A published_at that the skew clamp (0 s in a chaos run) turns into processing time."""
    return now + ARRIVAL


def calm(ticker: str, serial: int, published_at: datetime) -> Outbound:
    item_id = f"calm-{ticker}-{serial}"
    return news(item_id, f"{CALM} {serial}", published_at, tickers=[ticker], source=item_id)


def burst(ticker: str, serial: int, now: datetime, size: int) -> list[Outbound]:
    future = at_arrival(now)
    ids = [f"spike-{ticker}-{serial}-{k}" for k in range(size)]
    return [
        news(item_id, f"{NEGATIVE} {serial} {k}", future, tickers=[ticker], source=item_id)
        for k, item_id in enumerate(ids)
    ]


def history(tickers: list[str], now: datetime, minutes: int = 6) -> list[Outbound]:
    """Calm items for each spike ticker, two a minute over the last `minutes` minutes."""
    return [
        calm(ticker, m * 2 + half, now - timedelta(seconds=60 * m + 30 * half + 5))
        for ticker in tickers
        for m in range(1, minutes + 1)
        for half in (0, 1)
    ]
