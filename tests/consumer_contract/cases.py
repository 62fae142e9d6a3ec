"""The consumer loop's contract, as cases that run on any broker harness.

tests/unit runs them on the in-memory broker, tests/integration on the real Kafka: the same
bodies, so the fake cannot drift from what the loop meets in production.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import CollectorRegistry

from pipeline.consumer.broker import CommitFailed, Consumer
from pipeline.consumer.commit import CommitPolicy, CommitStep, Committer
from pipeline.consumer.decode import RawRecord
from pipeline.consumer.processor import StreamProcessor
from pipeline.consumer.steps import Message, MessageRejected, Partition, ProcessingStep
from pipeline.metrics import ClassifierMetrics
from pipeline.settings import ClassifierSettings

LOOP_SETTINGS = ClassifierSettings(poll_timeout_ms=20, drain_timeout_s=5.0, revoke_timeout_s=0.2)


class ContractBroker(Protocol):
    """What a case needs from a broker besides the consumer protocol itself."""

    def new_topic(self, partitions: int) -> str: ...

    def produce(self, topic: str, counts: Mapping[int, int]) -> None:
        """Append counts[p] records to partition p."""
        ...

    def consumer(self, group: str) -> Consumer: ...

    def committed(self, group: str, topic: str) -> dict[int, int | None]:
        """The group's committed offset per partition of the topic, as the broker has it."""
        ...

    def member(self, group: str, topic: str) -> AbstractContextManager[None]:
        """Another member of the group for the duration of the block."""
        ...


@dataclass
class Collected:
    """The test chain's state: records held until the gate opens; `stuck` makes join give up."""

    delivered: list[tuple[int, int]] = field(default_factory=list)
    held: list[Message[RawRecord]] = field(default_factory=list)
    gate_open: bool = True
    stuck: bool = False
    capacity: int = 1_000


class CollectStep(ProcessingStep[RawRecord]):
    """Stands in for decode..store: records each passed record, then hands its offsets on."""

    def __init__(self, state: Collected, commit: ProcessingStep[int]) -> None:
        self._state = state
        self._commit = commit

    def submit(self, message: Message[RawRecord]) -> None:
        if len(self._state.held) >= self._state.capacity:
            raise MessageRejected("test chain full")
        self._state.held.append(message)
        self.poll()

    def poll(self) -> None:
        if self._state.gate_open:
            self._pass_held()
        self._commit.poll()

    def join(self, timeout: float | None = None) -> None:
        if not self._state.stuck:
            self._pass_held()
        self._commit.join(timeout)

    def close(self) -> None:
        return None

    def terminate(self) -> None:
        self._state.held.clear()
        self._commit.terminate()

    def _pass_held(self) -> None:
        for message in self._state.held:
            where = message.payload.coordinates
            assert where.partition is not None
            assert where.offset is not None
            self._state.delivered.append((where.partition, where.offset))
            self._commit.submit(Message(1, message.committable))
        self._state.held.clear()


class RefusingCommits:
    """Wraps a consumer: while `refusing`, every commit fails as a broker outage would."""

    def __init__(self, consumer: Consumer) -> None:
        self.refusing = True
        self.refused: list[Mapping[Partition, int]] = []
        self._consumer = consumer

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        if self.refusing:
            self.refused.append(dict(offsets))
            raise CommitFailed("test: commit refused")
        self._consumer.commit(offsets)

    def __getattr__(self, name: str) -> object:
        return getattr(self._consumer, name)


@dataclass
class Loop:
    """A StreamProcessor on a test chain, stepped by the case itself."""

    processor: StreamProcessor
    consumer: Consumer
    state: Collected
    registry: CollectorRegistry
    group: str

    def until(self, what: str, done: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting until {what}"
            self.processor.step()

    def lag(self, partition: int) -> float | None:
        return self.registry.get_sample_value(
            "finsent_classifier_consumer_lag", {"partition": str(partition)}
        )

    def paused_metric(self) -> float | None:
        return self.registry.get_sample_value("finsent_classifier_paused")


def start_loop(
    broker: ContractBroker,
    topic: str,
    state: Collected | None = None,
    wrap: Callable[[Consumer], Consumer] = lambda c: c,
) -> Loop:
    group = f"contract-{uuid.uuid4().hex[:8]}"
    consumer = wrap(broker.consumer(group))
    state = state or Collected()
    registry = CollectorRegistry()
    metrics = ClassifierMetrics(registry)

    def build(committer: Committer) -> ProcessingStep[RawRecord]:
        return CollectStep(state, CommitStep(committer, CommitPolicy(), metrics))

    processor = StreamProcessor(consumer, topic, build, LOOP_SETTINGS, metrics)
    assert processor.subscribe()
    return Loop(processor, consumer, state, registry, group)


def every_offset(
    counts: Mapping[int, int], start: Mapping[int, int] | None = None
) -> list[tuple[int, int]]:
    begin = start or {}
    return sorted((p, o) for p, n in counts.items() for o in range(begin.get(p, 0), n))


def by_index(topic: str, offsets: Mapping[int, int]) -> dict[Partition, int]:
    return {Partition(topic, p): o for p, o in offsets.items()}


def owned(consumer: Consumer) -> Collection[Partition]:
    return consumer.assignment()


# -- the cases ---------------------------------------------------------------------------


def processed_records_are_committed_at_the_next_offsets(broker: ContractBroker) -> None:
    counts = {0: 5, 1: 7, 2: 4}
    topic = broker.new_topic(len(counts))
    broker.produce(topic, counts)
    loop = start_loop(broker, topic)
    loop.until("every record is processed", lambda: len(loop.state.delivered) == 16)
    loop.processor.shutdown()
    assert sorted(loop.state.delivered) == every_offset(counts), "each record exactly once"
    assert broker.committed(loop.group, topic) == counts
    assert loop.processor.committed == by_index(topic, counts)


def a_refused_commit_is_retried_and_not_counted_as_committed(broker: ContractBroker) -> None:
    counts = {0: 4, 1: 4}
    topic = broker.new_topic(len(counts))
    broker.produce(topic, counts)
    refusing: list[RefusingCommits] = []

    def wrap(consumer: Consumer) -> Consumer:
        refusing.append(RefusingCommits(consumer))
        return refusing[0]  # type: ignore[return-value]  # forwards the rest by __getattr__

    loop = start_loop(broker, topic, wrap=wrap)
    loop.until("every record is processed", lambda: len(loop.state.delivered) == 8)
    assert refusing[0].refused, "the chain tried to commit"
    assert loop.processor.committed == {}, "a refused commit must not count as committed"
    assert broker.committed(loop.group, topic) == {0: None, 1: None}
    refusing[0].refusing = False
    loop.until("the retry commits", lambda: loop.processor.committed == by_index(topic, counts))
    assert broker.committed(loop.group, topic) == counts
    assert len(loop.state.delivered) == 8, "a retried commit replays nothing"


def a_full_chain_pauses_the_partitions_and_polling_goes_on(broker: ContractBroker) -> None:
    counts = {0: 10, 1: 10}
    topic = broker.new_topic(len(counts))
    broker.produce(topic, counts)
    state = Collected(gate_open=False, capacity=3)
    loop = start_loop(broker, topic, state)
    loop.until(
        "backpressure pauses every partition",
        lambda: bool(owned(loop.consumer)) and loop.consumer.paused() == owned(loop.consumer),
    )
    assert len(state.held) == 3
    assert state.delivered == []
    assert loop.paused_metric() == 1
    state.gate_open = True
    loop.until("every record is processed", lambda: len(state.delivered) == 20)
    assert loop.consumer.paused() == set()
    assert loop.paused_metric() == 0
    assert sorted(state.delivered) == every_offset(counts)
    assert broker.committed(loop.group, topic) == counts


def a_revocation_finishes_and_commits_the_work_before_the_partitions_go(
    broker: ContractBroker,
) -> None:
    counts = {0: 5, 1: 5, 2: 5, 3: 5}
    topic = broker.new_topic(len(counts))
    broker.produce(topic, counts)
    state = Collected(gate_open=False)
    loop = start_loop(broker, topic, state)
    loop.until("every record is fetched and held", lambda: len(state.held) == 20)
    with broker.member(loop.group, topic):
        loop.until("another member takes partitions", lambda: 0 < len(owned(loop.consumer)) < 4)
        assert sorted(state.delivered) == every_offset(counts), "held work finished first"
        assert broker.committed(loop.group, topic) == counts, "and committed before it went"
    loop.until("the partitions come back", lambda: len(owned(loop.consumer)) == 4)
    state.gate_open = True
    broker.produce(topic, {p: 1 for p in counts})
    loop.until("the new records are processed", lambda: len(state.delivered) == 24)
    assert sorted(state.delivered) == every_offset({p: 6 for p in counts}), "nothing replayed"


def work_dropped_at_a_revocation_is_redelivered_from_the_first_uncommitted_offset(
    broker: ContractBroker,
) -> None:
    first = {0: 6, 1: 6}
    topic = broker.new_topic(len(first))
    broker.produce(topic, first)
    state = Collected()
    loop = start_loop(broker, topic, state)
    loop.until(
        "the first records are committed",
        lambda: loop.processor.committed == by_index(topic, first),
    )
    state.gate_open, state.stuck = False, True
    broker.produce(topic, {0: 4, 1: 4})
    loop.until("the new records are held", lambda: len(state.held) == 8)
    with broker.member(loop.group, topic):
        loop.until("another member takes partitions", lambda: len(owned(loop.consumer)) == 1)
    loop.until("the partitions come back", lambda: len(owned(loop.consumer)) == 2)
    assert len(state.delivered) == 12, "the stuck work was dropped, not passed on"
    state.gate_open, state.stuck = True, False
    loop.until("the dropped records come again", lambda: len(state.delivered) == 20)
    assert sorted(state.delivered[12:]) == every_offset({0: 10, 1: 10}, first)
    assert broker.committed(loop.group, topic) == {0: 10, 1: 10}


def lag_is_the_end_offset_minus_the_committed_offset(broker: ContractBroker) -> None:
    topic = broker.new_topic(1)
    broker.produce(topic, {0: 8})
    state = Collected()
    loop = start_loop(broker, topic, state)
    loop.until("caught up, lag 0", lambda: loop.lag(0) == 0)
    state.gate_open = False
    broker.produce(topic, {0: 5})
    loop.until("five records held", lambda: len(state.held) == 5)
    loop.until("lag counts the uncommitted records", lambda: loop.lag(0) == 5)
    state.gate_open = True
    loop.until("caught up again", lambda: loop.lag(0) == 0)
    assert loop.processor.committed == by_index(topic, {0: 13})


CASES = [
    processed_records_are_committed_at_the_next_offsets,
    a_refused_commit_is_retried_and_not_counted_as_committed,
    a_full_chain_pauses_the_partitions_and_polling_goes_on,
    a_revocation_finishes_and_commits_the_work_before_the_partitions_go,
    work_dropped_at_a_revocation_is_redelivered_from_the_first_uncommitted_offset,
    lag_is_the_end_offset_minus_the_committed_offset,
]
