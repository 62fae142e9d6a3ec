"""A holding step's join drains within its timeout and hands the rest to the next step."""

from __future__ import annotations

import pytest

from pipeline.consumer.joining import join_within
from pipeline.consumer.steps import Message, ProcessingStep


class NextStep(ProcessingStep[object]):
    def __init__(self) -> None:
        self.joins: list[float | None] = []

    def submit(self, message: Message[object]) -> None:
        raise AssertionError("join submits nothing")

    def poll(self) -> None:
        return None

    def join(self, timeout: float | None = None) -> None:
        self.joins.append(timeout)

    def close(self) -> None:
        return None

    def terminate(self) -> None:
        return None


@pytest.mark.parametrize(
    ("timeout", "held", "advances", "joined"),
    [
        pytest.param(None, 3, 3, [None], id="no timeout: drains, then joins the next"),
        pytest.param(5.0, 0, 0, ["some"], id="nothing held: joins the next at once"),
        pytest.param(0.0, 3, 1, [], id="deadline passed: the next step is not joined"),
    ],
)
def test_join_within(timeout: float | None, held: int, advances: int, joined: list[object]) -> None:
    left = [held]
    calls: list[int] = []

    def advance() -> None:
        calls.append(left[0])
        left[0] -= 1

    following = NextStep()
    join_within(timeout, lambda: left[0] == 0, advance, following)
    assert len(calls) == advances
    assert [None if t is None else "some" for t in following.joins] == joined
    assert all(t is None or 0 < t <= 5.0 for t in following.joins)
