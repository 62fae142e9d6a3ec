"""Who a demo item mentions, and a ledger that keeps tickers under an hourly cap."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.items.companies import Company


@dataclass
class MentionLedger:
    """When each ticker was mentioned; keeps every non-exempt ticker under the cap."""

    exempt: str
    cap: int
    times: dict[str, list[datetime]] = field(default_factory=dict)

    def admits(self, tickers: Iterable[str], at: datetime) -> bool:
        # Any 1-hour window holding `at` lies within `at` +- 1 h: under the cap there, under
        # the cap in every window, whatever order the items were added in.
        hour = timedelta(hours=1)
        for ticker in set(tickers) - {self.exempt}:
            times = self.times.get(ticker, [])
            near = bisect.bisect_right(times, at + hour) - bisect.bisect_left(times, at - hour)
            if near >= self.cap:
                return False
        return True

    def record(self, tickers: Iterable[str], at: datetime) -> None:
        for ticker in set(tickers):
            bisect.insort(self.times.setdefault(ticker, []), at)


class MentionFinder:
    """Tickers a text names: cashtags, bare symbols and company names, ignoring case.

    Ignoring case finds at least what the classifier's case-sensitive matcher finds, so a
    cap kept here holds there too.
    """

    def __init__(self, companies: Sequence[Company]) -> None:
        self.by_name = {n.casefold(): c.ticker for c in companies for n in c.names}
        self.symbols = frozenset(c.ticker for c in companies)
        self.by_lead: dict[str, list[str]] = {}
        for name in self.by_name:
            lead = _WORD.match(name)
            if lead:
                self.by_lead.setdefault(lead.group(0), []).append(name)

    def find(self, text: str) -> frozenset[str]:
        folded = text.casefold()
        found = {self.by_name[name] for name in self._names_in(folded)}
        found |= {m.upper() for m in _CASHTAG.findall(text)}
        found |= {w for w in _BARE_SYMBOL.findall(text) if w in self.symbols}
        return frozenset(found)

    def _names_in(self, folded: str) -> Iterable[str]:
        # Every word start is a candidate for the names that begin with that word.
        for word in _WORD.finditer(folded):
            for name in self.by_lead.get(word.group(0), ()):
                end = word.start() + len(name)
                whole = end >= len(folded) or not folded[end].isalnum()
                if whole and folded.startswith(name, word.start()):
                    yield name


_WORD = re.compile(r"[^\W_]+")
_CASHTAG = re.compile(r"\$([A-Za-z][A-Za-z0-9.\-]{0,7})")
_BARE_SYMBOL = re.compile(r"\b[A-Z]{3,5}\b")
