"""The consumer loop's contract (tests/consumer_contract/cases.py) on the in-memory broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import pytest

from pipeline.consumer.steps import Partition
from tests.consumer_contract.cases import CASES, ContractBroker
from tests.consumer_contract.memory_broker import MemoryBroker, MemoryConsumer


class MemoryContractBroker:
    def __init__(self) -> None:
        self.broker = MemoryBroker()

    def new_topic(self, partitions: int) -> str:
        topic = f"contract-{uuid.uuid4().hex[:8]}"
        self.broker.create_topic(topic, partitions)
        return topic

    def produce(self, topic: str, counts: Mapping[int, int]) -> None:
        for index, count in counts.items():
            for _ in range(count):
                self.broker.produce(Partition(topic, index), b"{}")

    def consumer(self, group: str) -> MemoryConsumer:
        return self.broker.consumer(group)

    def committed(self, group: str, topic: str) -> dict[int, int | None]:
        return {p.index: self.broker.committed(group, p) for p in self.broker.partitions(topic)}

    @contextmanager
    def member(self, group: str, topic: str) -> Iterator[None]:
        other = self.broker.consumer(group)
        other.subscribe(topic, lambda _: None, lambda _: None)
        yield
        other.close()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.__name__) for c in CASES])
def test_consumer_contract_on_the_memory_broker(case: Callable[[ContractBroker], None]) -> None:
    case(MemoryContractBroker())
