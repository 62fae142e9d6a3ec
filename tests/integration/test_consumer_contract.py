"""The consumer loop's contract (tests/consumer_contract/cases.py) on the real Kafka."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pipeline.consumer.kafka_adapter import KafkaBrokerConsumer
from tests.consumer_contract.cases import CASES, ContractBroker


class KafkaContractBroker:
    """Topics under the test's prefix (deleted after it); closes every client it made."""

    def __init__(self, bootstrap: str, prefix: str) -> None:
        self._bootstrap = bootstrap
        self._prefix = prefix
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self._consumers: list[KafkaConsumer] = []
        self._topics: dict[str, int] = {}

    def new_topic(self, partitions: int) -> str:
        topic = f"{self._prefix}.contract-{len(self._topics)}"
        self._admin.create_topics([NewTopic(topic, partitions, 1)])
        self._topics[topic] = partitions
        return topic

    def produce(self, topic: str, counts: Mapping[int, int]) -> None:
        for index, count in counts.items():
            for _ in range(count):
                self._producer.send(topic, value=b"{}", partition=index)
        self._producer.flush()

    def consumer(self, group: str) -> KafkaBrokerConsumer:
        return KafkaBrokerConsumer(self._kafka_consumer(group))

    def committed(self, group: str, topic: str) -> dict[int, int | None]:
        offsets = self._admin.list_consumer_group_offsets(group)
        found = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
        return {p: found.get(p) for p in range(self._topics[topic])}

    @contextmanager
    def member(self, group: str, topic: str) -> Iterator[None]:
        other = self._kafka_consumer(group)
        other.subscribe([topic])
        leaving = threading.Event()

        def keep_polling() -> None:
            while not leaving.is_set():
                other.poll(timeout_ms=100)

        poller = threading.Thread(target=keep_polling, name="contract-member")
        poller.start()
        try:
            yield
        finally:
            leaving.set()
            poller.join()
            other.close(autocommit=False)

    def close(self) -> None:
        for consumer in self._consumers:
            consumer.close(autocommit=False)
        self._producer.close()
        self._admin.close()

    def _kafka_consumer(self, group: str) -> KafkaConsumer:
        consumer = KafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
        )
        self._consumers.append(consumer)
        return consumer


@pytest.fixture
def kafka_broker(kafka_bootstrap: str, unique_topic_prefix: str) -> Iterator[KafkaContractBroker]:
    broker = KafkaContractBroker(kafka_bootstrap, unique_topic_prefix)
    yield broker
    broker.close()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.__name__) for c in CASES])
def test_consumer_contract_on_kafka(
    case: Callable[[ContractBroker], None], kafka_broker: KafkaContractBroker
) -> None:
    case(kafka_broker)
