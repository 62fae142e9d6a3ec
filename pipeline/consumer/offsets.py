"""The consumer loop's offset bookkeeping, per partition, in one place."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pipeline.consumer.steps import Partition


class PartitionOffsets:
    """Offsets are the next to read. `committed` is the one record of what the broker
    acknowledged (a failed commit is not in it); a refused commit waits for a retry while the
    partition stays ours; the fetched range says where to restart work that was dropped.
    """

    def __init__(self) -> None:
        self._first_fetched: dict[Partition, int] = {}
        self._next_fetch: dict[Partition, int] = {}
        self._committed: dict[Partition, int] = {}
        self._refused: dict[Partition, int] = {}
        self._rewind: dict[Partition, int] = {}

    @property
    def committed(self) -> Mapping[Partition, int]:
        return self._committed

    @property
    def refused(self) -> Mapping[Partition, int]:
        return self._refused

    def fetched(self, partition: Partition, first: int, last: int) -> None:
        self._first_fetched.setdefault(partition, first)
        self._next_fetch[partition] = last + 1

    def acknowledge(self, offsets: Mapping[Partition, int]) -> None:
        self._committed.update(offsets)
        for partition, offset in offsets.items():
            if self._refused.get(partition, offset) <= offset:
                self._refused.pop(partition, None)  # superseded: never commit an older one after

    def refuse(self, offsets: Mapping[Partition, int]) -> None:
        self._refused.update(offsets)

    def take_refused(self, owned: Collection[Partition]) -> dict[Partition, int]:
        """The refused offsets of partitions still owned, to commit again; the others went
        with their partitions (their records are replayed by whoever owns them now)."""
        due = {p: offset for p, offset in self._refused.items() if p in owned}
        self._refused = {}
        return due

    def forget_refused(self) -> None:
        self._refused = {}

    def awaiting_commit(self) -> bool:
        """Whether fetched records have not reached a commit yet (acknowledged or refused)."""
        return any(
            end > max(self._committed.get(p, -1), self._refused.get(p, -1))
            for p, end in self._next_fetch.items()
        )

    def release(self) -> None:
        """The fetched work was dropped: remember each partition's first uncommitted offset."""
        self._rewind = {}
        for partition, end in self._next_fetch.items():
            start = max(self._committed.get(partition, -1), self._first_fetched[partition])
            if end > start:
                self._rewind[partition] = start
        self._first_fetched.clear()
        self._next_fetch.clear()

    def take_rewind(self, assigned: Collection[Partition]) -> dict[Partition, int]:
        """Where each assigned partition restarts, if its last fetched work was dropped."""
        starts = {p: self._rewind[p] for p in assigned if p in self._rewind}
        self._rewind = {}
        return starts
