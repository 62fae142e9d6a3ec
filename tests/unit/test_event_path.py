"""One event, followed through the calls: from the consumer's poll through each step of the
chain once, in the order of docs/architecture.md (decode → dead letters → batch → inference →
store → commit), to the broker's commit of its offset, which comes only after it was stored."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from pipeline.clock import WallClock
from pipeline.consumer.broker import Consumer
from pipeline.consumer.commit import Committer
from pipeline.consumer.decode import RawRecord
from pipeline.consumer.factory import ChainDeps, build_chain
from pipeline.consumer.processor import StreamProcessor
from pipeline.consumer.steps import ForwardingStep, Message, Partition, ProcessingStep
from pipeline.items.companies import Company
from pipeline.items.scored import ModelRecord
from pipeline.items.tickers import CompanyMatcher, TickerExtractor
from pipeline.metrics import ClassifierMetrics
from pipeline.model.classify import BatchClassifier
from tests.consumer_contract.cases import LOOP_SETTINGS
from tests.consumer_contract.memory_broker import MemoryBroker
from tests.unit.stream_fakes import FakeRuntime, sqlite_memory_engine
from tests.unit.test_consumer_chain import (
    P0,
    FakeSink,
    feed,
    good,
    make_chain,
    message,
    settings,
    stored_ids,
)

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


class Watched:
    """A consumer that notes the polls that return records and the commits the broker took."""

    def __init__(self, consumer: Consumer, seen: list[str]) -> None:
        self._consumer, self._seen = consumer, seen

    def poll(self, timeout_ms: int) -> Mapping[Partition, Sequence[Any]]:
        records = self._consumer.poll(timeout_ms)
        if any(records.values()):
            self._seen.append("poll")
        return records

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        self._consumer.commit(offsets)
        self._seen.append("broker commit")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._consumer, name)


def test_one_event_from_the_poll_to_the_broker_commit() -> None:
    """The whole consumer path on the in-memory broker: the processor's poll, the chain's
    steps, the broker's commit, each once and in order; the row is stored before the commit."""
    engine, seen, broker = sqlite_memory_engine(), [], MemoryBroker()
    topic = f"path-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, 1)
    broker.produce(Partition(topic, 0), good("only"))
    runtime = FakeRuntime()
    extractor = TickerExtractor(CompanyMatcher([Company("AAPL", "Apple Inc.", ("Apple",))]))
    metrics = ClassifierMetrics(CollectorRegistry())
    deps = ChainDeps(
        settings(),
        BatchClassifier(runtime, extractor),
        engine,
        ModelRecord(runtime.version, "fake"),
        WallClock(),
        metrics,
        FakeSink(),
        wrap=lambda name, step, _committer: Entered(name, step, seen),
    )
    consumer = Watched(broker.consumer("path"), seen)
    processor = StreamProcessor(
        consumer, topic, lambda committer: build_chain(deps, committer), LOOP_SETTINGS, metrics
    )
    assert processor.subscribe()
    for _ in range(500):
        if "broker commit" in seen:
            break
        processor.step()
    processor.shutdown()
    assert seen == ["poll", *ORDER[:-1], "broker commit"]
    assert stored_ids(engine) == {"only"}
    assert broker.committed("path", Partition(topic, 0)) == 1
