"""An in-memory broker whose consumers keep the consumer protocol (pipeline/consumer/broker.py).

It lives under tests/ because nothing in production wants it: the embedded mode feeds the
chain from a replay source and has no offsets to commit. Like Kafka's eager protocol, a
member joining or leaving revokes every member's partitions; each member sees the change
(revoke, then assign, positions at the group's committed offsets) inside its next poll.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from pipeline.consumer.broker import CommitFailed, OnPartitions
from pipeline.consumer.steps import Partition

MAX_POLL_RECORDS = 50


@dataclass(frozen=True)
class MemoryRecord:
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()


class MemoryBroker:
    """Topics as lists of records; groups as members plus committed offsets."""

    def __init__(self) -> None:
        self._logs: dict[Partition, list[MemoryRecord]] = {}
        self._partitions: dict[str, list[Partition]] = {}
        self._members: dict[str, list[MemoryConsumer]] = {}
        self._committed: dict[tuple[str, Partition], int] = {}

    def create_topic(self, topic: str, partitions: int) -> None:
        self._partitions[topic] = [Partition(topic, i) for i in range(partitions)]
        for partition in self._partitions[topic]:
            self._logs[partition] = []

    def produce(self, partition: Partition, value: bytes, key: bytes | None = None) -> None:
        log = self._logs[partition]
        log.append(MemoryRecord(len(log), 0, key, value))

    def consumer(self, group: str) -> MemoryConsumer:
        return MemoryConsumer(self, group)

    def partitions(self, topic: str) -> list[Partition]:
        return self._partitions.get(topic, [])

    def committed(self, group: str, partition: Partition) -> int | None:
        return self._committed.get((group, partition))

    def join(self, member: MemoryConsumer, topic: str) -> None:
        self._members.setdefault(member.group, []).append(member)
        self._rebalance(member.group, topic)

    def leave(self, member: MemoryConsumer, topic: str) -> None:
        self._members[member.group].remove(member)
        self._rebalance(member.group, topic)

    def commit(self, member: MemoryConsumer, offsets: Mapping[Partition, int]) -> None:
        if member not in self._members.get(member.group, []):
            raise CommitFailed("not a member of the group")
        for partition, offset in offsets.items():
            self._committed[(member.group, partition)] = offset

    def fetch(self, partition: Partition, position: int, most: int) -> list[MemoryRecord]:
        return self._logs[partition][position : position + most]

    def end(self, partition: Partition) -> int:
        return len(self._logs[partition])

    def _rebalance(self, group: str, topic: str) -> None:
        members = self._members[group]
        for i, member in enumerate(members):
            member.reassign(set(self.partitions(topic)[i :: len(members)]))


class MemoryConsumer:
    """One group member; strict like kafka-python about partitions it does not own."""

    def __init__(self, broker: MemoryBroker, group: str) -> None:
        self.group = group
        self._broker = broker
        self._topic = ""
        self._on_assigned: OnPartitions = _ignore
        self._on_revoked: OnPartitions = _ignore
        self._assigned: set[Partition] = set()
        self._pending: set[Partition] | None = None
        self._positions: dict[Partition, int] = {}
        self._paused: set[Partition] = set()
        self._highwater: dict[Partition, int] = {}

    def subscribe(self, topic: str, on_assigned: OnPartitions, on_revoked: OnPartitions) -> None:
        self._topic, self._on_assigned, self._on_revoked = topic, on_assigned, on_revoked
        self._broker.join(self, topic)

    def close(self) -> None:
        if self._topic:
            self._broker.leave(self, self._topic)

    def reassign(self, partitions: set[Partition]) -> None:
        self._pending = partitions

    def has_partitions(self, topic: str) -> bool:
        return bool(self._broker.partitions(topic))

    def poll(self, timeout_ms: int) -> Mapping[Partition, Sequence[MemoryRecord]]:
        if self._pending is not None:
            self._apply_rebalance(self._pending)
        fetched: dict[Partition, Sequence[MemoryRecord]] = {}
        room = MAX_POLL_RECORDS
        for partition in sorted(self._assigned - self._paused):
            records = self._broker.fetch(partition, self._positions[partition], room)
            self._highwater[partition] = self._broker.end(partition)
            if records:
                fetched[partition] = records
                self._positions[partition] = records[-1].offset + 1
                room -= len(records)
        return fetched

    def assignment(self) -> set[Partition]:
        return set(self._assigned)

    def pause(self, partitions: Collection[Partition]) -> None:
        self._paused |= self._owned(partitions)

    def resume(self, partitions: Collection[Partition]) -> None:
        self._paused -= self._owned(partitions)

    def paused(self) -> set[Partition]:
        return set(self._paused)

    def seek(self, partition: Partition, offset: int) -> None:
        self._owned([partition])
        self._positions[partition] = offset

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        if not self._owned_now(offsets):
            raise CommitFailed(f"partitions not owned: {sorted(set(offsets) - self._assigned)}")
        self._broker.commit(self, offsets)

    def highwater(self, partition: Partition) -> int | None:
        return self._highwater.get(partition)

    def _apply_rebalance(self, partitions: set[Partition]) -> None:
        self._pending = None
        self._on_revoked(sorted(self._assigned))
        self._assigned, self._paused = partitions, set()
        self._positions = {p: self._broker.committed(self.group, p) or 0 for p in partitions}
        self._on_assigned(sorted(partitions))

    def _owned(self, partitions: Collection[Partition]) -> set[Partition]:
        if not self._owned_now(partitions):
            raise ValueError(f"partitions not assigned: {sorted(set(partitions))}")
        return set(partitions)

    def _owned_now(self, partitions: Collection[Partition]) -> bool:
        return set(partitions) <= self._assigned


def _ignore(_: list[Partition]) -> None:
    return None
