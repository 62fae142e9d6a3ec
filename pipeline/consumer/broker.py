"""What the consumer loop needs from a broker's consumer, and nothing more.

The kafka-python adapter (kafka_adapter.py) and the tests' in-memory broker implement it,
so the loop's offset bookkeeping is tested on both with the same cases.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from pipeline.consumer.steps import Partition

OnPartitions = Callable[[list[Partition]], None]


class CommitFailed(Exception):  # noqa: N818 - an outcome the loop expects, not a bug
    """The broker did not acknowledge the offsets (coordinator moving, rebalance, outage)."""


class Record(Protocol):
    """One fetched record; kafka-python's ConsumerRecord has this shape."""

    @property
    def offset(self) -> int: ...

    @property
    def timestamp(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes | None]] | None: ...


class Consumer(Protocol):
    """A group member. The rebalance callbacks run inside `poll`, on the caller's thread:
    `on_revoked` before partitions go (so their work can finish and commit), `on_assigned`
    after new ones arrive (so the loop can seek them).
    """

    def subscribe(
        self, topic: str, on_assigned: OnPartitions, on_revoked: OnPartitions
    ) -> None: ...

    def has_partitions(self, topic: str) -> bool:
        """Whether the topic exists with partitions (a group cannot be joined before)."""
        ...

    def poll(self, timeout_ms: int) -> Mapping[Partition, Sequence[Record]]: ...

    def assignment(self) -> set[Partition]: ...

    def pause(self, partitions: Collection[Partition]) -> None: ...

    def resume(self, partitions: Collection[Partition]) -> None: ...

    def paused(self) -> set[Partition]: ...

    def seek(self, partition: Partition, offset: int) -> None:
        """The next poll returns the partition's records from `offset`."""
        ...

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        """Commit the next offsets to read; raises CommitFailed when not acknowledged."""
        ...

    def highwater(self, partition: Partition) -> int | None:
        """The partition's end offset as last seen by a fetch; None before any fetch."""
        ...
