"""The consumer protocol (broker.py) on kafka-python's KafkaConsumer."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from pipeline.consumer.broker import CommitFailed, OnPartitions, Record
from pipeline.consumer.steps import Partition


class KafkaBrokerConsumer:
    """Translates partitions at the boundary; the records pass through unchanged."""

    def __init__(self, consumer: KafkaConsumer) -> None:
        self._consumer = consumer

    def subscribe(self, topic: str, on_assigned: OnPartitions, on_revoked: OnPartitions) -> None:
        self._consumer.subscribe([topic], listener=_Listener(on_assigned, on_revoked))

    def has_partitions(self, topic: str) -> bool:
        return bool(self._consumer.partitions_for_topic(topic))

    def poll(self, timeout_ms: int) -> Mapping[Partition, Sequence[Record]]:
        fetched = self._consumer.poll(timeout_ms=timeout_ms)
        return {_partition(tp): records for tp, records in fetched.items()}

    def assignment(self) -> set[Partition]:
        return {_partition(tp) for tp in self._consumer.assignment()}

    def pause(self, partitions: Collection[Partition]) -> None:
        self._consumer.pause(*map(_topic_partition, partitions))

    def resume(self, partitions: Collection[Partition]) -> None:
        self._consumer.resume(*map(_topic_partition, partitions))

    def paused(self) -> set[Partition]:
        return {_partition(tp) for tp in self._consumer.paused()}

    def seek(self, partition: Partition, offset: int) -> None:
        self._consumer.seek(_topic_partition(partition), offset)

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        request = {_topic_partition(p): OffsetAndMetadata(o, "", -1) for p, o in offsets.items()}
        try:
            self._consumer.commit(request)
        except KafkaError as e:
            raise CommitFailed(str(e)) from e

    def highwater(self, partition: Partition) -> int | None:
        high: int | None = self._consumer.highwater(_topic_partition(partition))
        return high


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped kafka-python base
    def __init__(self, on_assigned: OnPartitions, on_revoked: OnPartitions) -> None:
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked

    def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        self._on_revoked([_partition(tp) for tp in revoked])

    def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        self._on_assigned([_partition(tp) for tp in assigned])


def _partition(tp: Any) -> Partition:
    return Partition(tp.topic, tp.partition)


def _topic_partition(partition: Partition) -> TopicPartition:
    return TopicPartition(partition.topic, partition.index)
