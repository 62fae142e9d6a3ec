"""How much an item is about one issuer: the relevance of a mention (docs/spike-rule.md).

Computed once, when mentions are extracted, and stored with the mention; ticker windows
weight each item by it. Pure functions; the weights are judgement defaults, named here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Part = Literal["headline", "body"]
WrittenAs = Literal["cashtag", "name"]

# Where the symbol first appears: linear from the part's start to its end.
HEADLINE_START = 1.0
HEADLINE_END = 0.85
BODY_START = 0.7
BODY_END = 0.4
# How it is written: a cashtag names a listed symbol on purpose; a company name can be a
# plain word ("Target", "Visa") and is matched only by spelling.
CASHTAG_FACTOR = 1.0
NAME_FACTOR = 0.8
# A producer ticker that the text never writes: the producer's word is all there is.
PRODUCER_ONLY = 1.0
# Each further symbol the item names adds this much to the divisor (10 symbols: / 5.5).
CROWD_DISCOUNT = 0.5


_PLACES: dict[Part, tuple[float, float]] = {
    "headline": (HEADLINE_START, HEADLINE_END),
    "body": (BODY_START, BODY_END),
}


@dataclass(frozen=True)
class Occurrence:
    """The first place a symbol appears in one part of an item, and how it is written.

    `position` is the character offset over the part's length: 0 at its start, below 1.
    """

    part: Part
    position: float
    written_as: WrittenAs


def placement(occurrence: Occurrence) -> float:
    """The weight of one occurrence: its part and position times how it is written."""
    start, end = _PLACES[occurrence.part]
    where = start - (start - end) * min(max(occurrence.position, 0.0), 1.0)
    form = CASHTAG_FACTOR if occurrence.written_as == "cashtag" else NAME_FACTOR
    return where * form


def mention_relevance(occurrences: Sequence[Occurrence], symbols_in_item: int) -> float:
    """Relevance in [0, 1] of one symbol's mention in an item that names `symbols_in_item`
    distinct symbols (this one included):

        relevance = prominence / (1 + CROWD_DISCOUNT · (symbols_in_item - 1))
        prominence = max over the symbol's occurrences of place · form, or PRODUCER_ONLY
                     when the text never writes it (a producer ticker)
        place = HEADLINE_START - (HEADLINE_START - HEADLINE_END) · position   in the headline
                BODY_START - (BODY_START - BODY_END) · position              in the body
        form = CASHTAG_FACTOR (cashtag) or NAME_FACTOR (company name)

    Defaults: headline 1.0 -> 0.85, body 0.7 -> 0.4, cashtag 1.0, name 0.8, producer only 1.0,
    crowd discount 0.5. So: a lone cashtag opening a headline is 1.0; a company name late in the
    body of a single-issuer story 0.32; any symbol of a 10-symbol item at most 1/5.5 ≈ 0.18.
    """
    prominence = max((placement(o) for o in occurrences), default=PRODUCER_ONLY)
    crowd = 1.0 + CROWD_DISCOUNT * max(symbols_in_item - 1, 0)
    return min(max(prominence / crowd, 0.0), 1.0)
