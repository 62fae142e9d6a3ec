"""One event, followed through the chain: it enters each step once, in the order of
docs/architecture.md (decode → dead letters → batch → inference → store → commit), and its
offset is acknowledged only after the commit step received it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.consumer.commit import Committer
from pipeline.consumer.decode import RawRecord
from pipeline.consumer.steps import ForwardingStep, Message, Partition, ProcessingStep
from tests.unit.stream_fakes import sqlite_memory_engine
from tests.unit.test_consumer_chain import P0, FakeSink, feed, good, make_chain, message, stored_ids

ORDER = ["decode", "dead_letters", "batch", "infer", "store", "commit", "acknowledged"]


class Entered(ForwardingStep[Any]):
    """Stands in front of one step and notes each message that enters it."""

    def __init__(self, name: str, step: ProcessingStep[Any], seen: list[str]) -> None:
        super().__init__(step)
        self._name, self._seen = name, seen

    def submit(self, message: Message[Any]) -> None:
        self._seen.append(self._name)
        self._next.submit(message)


def test_one_event_enters_each_step_once_in_order() -> None:
    engine, seen = sqlite_memory_engine(), []

    def wrap(name: str, step: ProcessingStep[Any], _committer: Committer) -> ProcessingStep[Any]:
        return Entered(name, step, seen)

    def acknowledged(offsets: Mapping[Partition, int]) -> None:
        seen.append("acknowledged")
        assert offsets == {P0: 1}

    chain = make_chain(engine, FakeSink(), acknowledged, wrap=wrap)
    one: Message[RawRecord] = message(P0, 0, good("only"))
    feed(chain, [one])
    assert stored_ids(engine) == {"only"}
    assert seen == ORDER


def test_a_dead_letter_is_sent_at_its_step_and_its_offset_follows_the_same_path() -> None:
    """A broken event leaves for the dead-letter topic at the dead-letter step; what goes on
    is its offset, through the same steps in the same order, so commits stay in order."""
    engine, seen, sink = sqlite_memory_engine(), [], FakeSink()

    def wrap(name: str, step: ProcessingStep[Any], _committer: Committer) -> ProcessingStep[Any]:
        return Entered(name, step, seen)

    chain = make_chain(engine, sink, lambda _o: seen.append("acknowledged"), wrap=wrap)
    feed(chain, [message(P0, 0, b"{oops")])
    assert [r.letter.kind for r in sink.sent] == ["json"]
    assert stored_ids(engine) == set()
    assert seen == ORDER
