from __future__ import annotations

from collections.abc import Sequence

import pytest

from pipeline.errors import StorageError
from pipeline.items.companies import Company
from pipeline.items.identity import content_hash
from pipeline.items.scored import Scores
from pipeline.items.tickers import CompanyMatcher, TickerExtractor
from pipeline.model.classify import BatchClassifier, Envelope, ReprintCache
from tests.unit.stream_fakes import FakeRuntime, event

STORED = Scores("Macro", 0.7, "negative", 0.6, 0.3, 0.1, -0.5)


def classifier(runtime: FakeRuntime, lookup=None, cache_size: int = 100) -> BatchClassifier:  # type: ignore[no-untyped-def]
    extractor = TickerExtractor(CompanyMatcher([Company("AAPL", "Apple Inc.", ("Apple",))]))
    return BatchClassifier(runtime, extractor, lookup, cache_size)


def envelopes(*pairs: tuple[str, str]) -> list[Envelope]:
    return [Envelope(event(ident, headline)) for ident, headline in pairs]


@pytest.mark.parametrize(
    ("batches", "inferred", "reprint_of"),
    [
        pytest.param(
            [[("1", "Apple rises"), ("2", "Apple falls")]],
            2,
            {"1": None, "2": None},
            id="distinct contents each inferred",
        ),
        pytest.param(
            [[("1", "Apple rises"), ("2", "RT @x: apple rises")]],
            1,
            {"1": None, "2": "1"},
            id="reprint in the same batch reuses the first",
        ),
        pytest.param(
            [[("1", "Apple rises")], [("2", "Apple rises"), ("3", "Apple rises")]],
            1,
            {"1": None, "2": "1", "3": "1"},
            id="reprints in later batches from the cache",
        ),
        pytest.param(
            [[("1", "Apple rises")], [("1", "Apple rises")]],
            1,
            {"1": None},
            id="a redelivered item is not a reprint of itself",
        ),
    ],
)
def test_inference_once_per_distinct_content(
    batches: list[list[tuple[str, str]]], inferred: int, reprint_of: dict[str, str | None]
) -> None:
    runtime = FakeRuntime()
    path = classifier(runtime)
    seen: dict[str, str | None] = {}
    total = 0
    for batch in batches:
        result = path.classify(envelopes(*batch))
        total += result.inferred
        seen.update({item.event.id: item.reprint_of for item in result.items})
    assert runtime.scored == inferred == total
    assert seen == reprint_of


def test_reprint_gets_its_originals_scores_and_its_own_mentions() -> None:
    path = classifier(FakeRuntime())
    first, second = path.classify(
        [Envelope(event("1", "Apple falls")), Envelope(event("2", "apple falls", tickers=["MSFT"]))]
    ).items
    assert second.scores == first.scores
    assert second.scores.sentiment == "negative"
    assert [m.symbol for m in first.mentions] == ["AAPL"]
    assert [m.symbol for m in second.mentions] == ["MSFT"]


def test_stored_original_found_by_lookup_is_not_inferred_again() -> None:
    runtime = FakeRuntime()
    wanted: list[Sequence[str]] = []
    key = content_hash(event("x", "Apple falls"))

    def lookup(hashes: Sequence[str]) -> dict[str, tuple[str, Scores]]:
        wanted.append(list(hashes))
        return {key: ("old-1", STORED)} if key in hashes else {}

    result = classifier(runtime, lookup).classify(envelopes(("9", "Apple falls"), ("8", "New")))
    assert runtime.calls == [["New"]]
    assert result.items[0].reprint_of == "old-1"
    assert result.items[0].scores == STORED
    assert result.reprints == 1
    assert len(wanted) == 1


def test_lookup_failure_falls_back_to_inference() -> None:
    def broken(hashes: Sequence[str]) -> dict[str, tuple[str, Scores]]:
        raise StorageError("database down")

    runtime = FakeRuntime()
    result = classifier(runtime, broken).classify(envelopes(("1", "Apple falls")))
    assert runtime.scored == 1
    assert result.items[0].reprint_of is None


def test_cleared_cache_forgets_originals() -> None:
    runtime = FakeRuntime()
    path = classifier(runtime)
    path.classify(envelopes(("1", "Apple rises")))
    path.cache.clear()
    result = path.classify(envelopes(("2", "Apple rises")))
    assert runtime.scored == 2
    assert result.items[0].reprint_of is None


@pytest.mark.parametrize(
    ("capacity", "puts", "kept"),
    [
        pytest.param(2, ["a", "b", "c"], {"b", "c"}, id="oldest evicted"),
        pytest.param(0, ["a"], set(), id="capacity zero keeps nothing"),
    ],
)
def test_reprint_cache_is_bounded(capacity: int, puts: list[str], kept: set[str]) -> None:
    cache = ReprintCache(capacity)
    for key in puts:
        cache.put(key, (key, STORED))
    assert {k for k in puts if cache.get(k) is not None} == kept
    assert len(cache) == len(kept)
