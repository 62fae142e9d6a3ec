"""Per-mention relevance: the formula in pipeline/items/relevance.py, table-driven."""

from __future__ import annotations

import pytest

from pipeline.items.relevance import Occurrence, mention_relevance


@pytest.mark.parametrize(
    ("occurrences", "symbols", "relevance"),
    [
        pytest.param([Occurrence("headline", 0.0, "cashtag")], 1, 1.0, id="cashtag opens headline"),
        pytest.param([Occurrence("headline", 1.0, "cashtag")], 1, 0.85, id="cashtag ends headline"),
        pytest.param([Occurrence("headline", 0.0, "name")], 1, 0.8, id="name opens headline"),
        pytest.param([Occurrence("body", 0.0, "cashtag")], 1, 0.7, id="cashtag opens body"),
        pytest.param([Occurrence("body", 1.0, "name")], 1, 0.32, id="name ends body"),
        pytest.param([Occurrence("body", 0.5, "cashtag")], 1, 0.55, id="middle of the body"),
        pytest.param([], 1, 1.0, id="producer ticker the text never writes"),
        pytest.param(
            [Occurrence("body", 0.9, "name"), Occurrence("headline", 0.0, "cashtag")],
            1,
            1.0,
            id="the best occurrence counts",
        ),
        pytest.param([Occurrence("headline", 0.0, "cashtag")], 2, 1 / 1.5, id="two symbols"),
        pytest.param([Occurrence("headline", 0.0, "cashtag")], 10, 1 / 5.5, id="ten symbols"),
        pytest.param([], 20, 1 / 10.5, id="twenty producer tickers"),
    ],
)
def test_mention_relevance(occurrences: list[Occurrence], symbols: int, relevance: float) -> None:
    assert mention_relevance(occurrences, symbols) == pytest.approx(relevance)


def test_a_ten_symbol_item_counts_for_much_less_than_a_single_symbol_one() -> None:
    best = [Occurrence("headline", 0.0, "cashtag")]
    assert mention_relevance(best, 10) < mention_relevance(best, 1) / 5


def test_relevance_stays_in_the_unit_interval() -> None:
    for part in ("headline", "body"):
        for position in (-0.5, 0.0, 0.99, 3.0):
            for form in ("cashtag", "name"):
                value = mention_relevance([Occurrence(part, position, form)], 1)  # type: ignore[arg-type]
                assert 0.0 < value <= 1.0
