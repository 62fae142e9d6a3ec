"""Which issuers an item is about: producer tickers, cashtags and company names (DESIGN §3)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import ahocorasick

from pipeline.companies import Company, SymbolChange, symbol_at
from schemas import NewsEvent, normalize_symbol

Origin = Literal["producer", "cashtag", "name"]

# A cashtag starts a word: "U$D 25" and "US$5" are money, "$25" is a price, "$AAPL" is a ticker.
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9]{0,5}(?:[.-][A-Za-z0-9]{1,2})?)(?![\w$])")


@dataclass(frozen=True)
class Mention:
    symbol: str
    origin: Origin


def extract_cashtags(text: str) -> list[str]:
    """Normalized symbols written as `$SYM`, in order of appearance, without repeats."""
    found: list[str] = []
    for match in _CASHTAG.finditer(text):
        symbol = normalize_symbol(match.group(1))
        if symbol is not None and symbol not in found:
            found.append(symbol)
    return found


class CompanyMatcher:
    """Finds company names and aliases as whole words (case-sensitive) with Aho-Corasick.

    Case matters on purpose: "Apple" is the issuer, "apple" is the fruit.
    """

    def __init__(self, companies: Iterable[Company]) -> None:
        self._automaton = ahocorasick.Automaton()
        for company in companies:
            symbol = normalize_symbol(company.ticker)
            for name in (n.strip() for n in company.names):
                if symbol is not None and len(name) >= 2:
                    self._automaton.add_word(name, (len(name), symbol))
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()

    def find(self, text: str) -> list[str]:
        if self._empty:
            return []
        found: list[str] = []
        for end, (length, ticker) in self._automaton.iter(text):
            start = end - length + 1
            if _word_edge(text, start - 1) and _word_edge(text, end + 1) and ticker not in found:
                found.append(ticker)
        return found


def _word_edge(text: str, index: int) -> bool:
    return index < 0 or index >= len(text) or not text[index].isalnum()


class TickerExtractor:
    """All mentions of one item: producer tickers first, then cashtags, then names (a name
    maps to the symbol valid at the item's time)."""

    def __init__(self, matcher: CompanyMatcher, history: Sequence[SymbolChange] = ()) -> None:
        self._matcher = matcher
        self._history = tuple(history)

    def mentions(self, event: NewsEvent) -> list[Mention]:
        text = event.headline if not event.body else f"{event.headline}\n{event.body}"
        candidates: Sequence[tuple[Sequence[str], Origin]] = (
            (event.tickers, "producer"),
            (extract_cashtags(text), "cashtag"),
            (self._names(text, event), "name"),
        )
        seen: dict[str, Mention] = {}
        for symbols, origin in candidates:
            for symbol in symbols:
                seen.setdefault(symbol, Mention(symbol, origin))
        return list(seen.values())

    def _names(self, text: str, event: NewsEvent) -> list[str]:
        found = self._matcher.find(text)
        if not self._history:
            return found
        return [symbol_at(s, event.published_at, self._history) for s in found]

