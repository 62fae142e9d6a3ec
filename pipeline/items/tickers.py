"""Which issuers an item is about: producer tickers, cashtags and company names (DESIGN §3)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import ahocorasick

from pipeline.items.companies import Company, SymbolChange, symbol_at
from pipeline.items.relevance import Occurrence, Part, WrittenAs, mention_relevance
from schemas import NewsEvent, normalize_symbol

Origin = Literal["producer", "cashtag", "name"]

# A cashtag starts a word: "U$D 25" and "US$5" are money, "$25" is a price, "$AAPL" is a ticker.
_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9]{0,5}(?:[.-][A-Za-z0-9]{1,2})?)(?![\w$])")


@dataclass(frozen=True)
class Mention:
    """A symbol an item names, how it was found, and how much the item is about it."""

    symbol: str
    origin: Origin
    relevance: float = 1.0


def extract_cashtags(text: str) -> list[str]:
    """Normalized symbols written as `$SYM`, in order of appearance, without repeats."""
    return list(cashtag_offsets(text))


def cashtag_offsets(text: str) -> dict[str, int]:
    """Each cashtag's symbol and the offset of its first `$`, in order of appearance."""
    found: dict[str, int] = {}
    for match in _CASHTAG.finditer(text):
        symbol = normalize_symbol(match.group(1))
        if symbol is not None:
            found.setdefault(symbol, match.start())
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
        return list(self.offsets(text))

    def offsets(self, text: str) -> dict[str, int]:
        """Each named company's symbol and where its first name starts, in order of the
        names' ends."""
        if self._empty:
            return {}
        found: dict[str, int] = {}
        for end, (length, ticker) in self._automaton.iter(text):
            start = end - length + 1
            if _word_edge(text, start - 1) and _word_edge(text, end + 1):
                found.setdefault(ticker, start)
        return found


# One part of an item, its text, and the symbols found in it with their first offsets.
Found = tuple[Part, str, dict[str, int]]


def _parts(event: NewsEvent) -> list[tuple[Part, str]]:
    parts: list[tuple[Part, str]] = [("headline", event.headline)]
    if event.body:
        parts.append(("body", event.body))
    return parts


def _word_edge(text: str, index: int) -> bool:
    return index < 0 or index >= len(text) or not text[index].isalnum()


class TickerExtractor:
    """All mentions of one item: producer tickers first, then cashtags, then names (a name
    maps to the symbol valid at the item's time), each with its relevance
    (pipeline.items.relevance)."""

    def __init__(self, matcher: CompanyMatcher, history: Sequence[SymbolChange] = ()) -> None:
        self._matcher = matcher
        self._history = tuple(history)

    def mentions(self, event: NewsEvent) -> list[Mention]:
        parts = _parts(event)
        forms: tuple[tuple[WrittenAs, list[Found]], ...] = (
            ("cashtag", [(part, text, cashtag_offsets(text)) for part, text in parts]),
            ("name", [(part, text, self._names(text, event)) for part, text in parts]),
        )
        origins: dict[str, Origin] = dict.fromkeys(event.tickers, "producer")
        places: dict[str, list[Occurrence]] = {}
        for form, found in forms:
            for part, text, offsets in found:
                for symbol, offset in offsets.items():
                    origins.setdefault(symbol, form)
                    place = Occurrence(part, offset / len(text), form)
                    places.setdefault(symbol, []).append(place)
        return [
            Mention(symbol, origin, mention_relevance(places.get(symbol, ()), len(origins)))
            for symbol, origin in origins.items()
        ]

    def _names(self, text: str, event: NewsEvent) -> dict[str, int]:
        found = self._matcher.offsets(text)
        if not self._history:
            return found
        mapped: dict[str, int] = {}
        for symbol, offset in found.items():
            mapped.setdefault(symbol_at(symbol, event.published_at, self._history), offset)
        return mapped
