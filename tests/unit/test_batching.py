from __future__ import annotations

import pytest

from pipeline.consumer.batching import Batcher, BatchLimits


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(
    max_size: int = 4, max_wait_s: float = 0.05, max_tokens: int = 1000
) -> tuple[Batcher[str], Ticks]:
    ticks = Ticks()
    return Batcher(BatchLimits(max_size, max_wait_s, max_tokens), ticks), ticks


@pytest.mark.parametrize(
    ("adds", "advance", "expected"),
    [
        pytest.param(
            [("a", 5), ("b", 5), ("c", 5), ("d", 5)],
            0.0,
            [["a", "b", "c", "d"]],
            id="batch closed by size",
        ),
        pytest.param([("a", 5), ("b", 5)], 0.05, [["a", "b"]], id="batch closed by time"),
        pytest.param([("a", 5), ("b", 5)], 0.01, [], id="still open before the wait"),
        pytest.param(
            [("a", 400), ("b", 400), ("c", 400)],
            0.0,
            [["a", "b"]],
            id="closed by padded token budget",
        ),
        pytest.param(
            [("a", 10), ("b", 600)], 0.0, [["a"]], id="a long item closes the batch before it"
        ),
        pytest.param([("big", 5000)], 0.05, [["big"]], id="one item over budget is its own batch"),
        pytest.param(
            [("long", 30), ("short", 3), ("mid", 10)],
            0.05,
            [["short", "mid", "long"]],
            id="sorted by length",
        ),
    ],
)
def test_batches(adds: list[tuple[str, int]], advance: float, expected: list[list[str]]) -> None:
    batcher, ticks = make()
    for item, tokens in adds:
        batcher.add(item, tokens)
    ticks.now += advance
    taken = []
    while (batch := batcher.take()) is not None:
        taken.append(batch)
    assert taken == expected


def test_wait_counts_from_the_first_item_of_a_batch() -> None:
    batcher, ticks = make()
    batcher.add("a", 1)
    ticks.now = 0.04
    batcher.add("b", 1)
    assert not batcher.ready()
    ticks.now = 0.05
    assert batcher.ready()
    assert batcher.take() == ["a", "b"]
    assert len(batcher) == 0


def test_flush_closes_the_open_batch_at_once() -> None:
    batcher, _ = make()
    batcher.add("a", 1)
    assert batcher.take() is None
    assert batcher.flush() == ["a"]
    assert batcher.flush() is None


def test_closed_batches_come_out_in_order_and_clear_drops_all() -> None:
    batcher, _ = make(max_size=2)
    for item in "abcde":
        batcher.add(item, 1)
    assert len(batcher) == 5
    assert batcher.take() == ["a", "b"]
    batcher.clear()
    assert len(batcher) == 0
    assert batcher.flush() is None
