"""The commit step (always last) and its policy.

Offsets reach this step only after their rows are committed and their dead letters
acknowledged, so committing here can never lose an item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pipeline.consumer.offsets import PartitionOffsets
from pipeline.consumer.steps import Message, Partition, ProcessingStep
from pipeline.metrics import ClassifierMetrics


class Committer:
    """Where offsets go (the broker through the loop, or nowhere in embedded mode), and the
    outcome recorded in one place: only acknowledged offsets count as committed."""

    def __init__(
        self,
        commit: Callable[[Mapping[Partition, int]], bool] | None = None,
        offsets: PartitionOffsets | None = None,
    ) -> None:
        self._commit = commit
        self.offsets = offsets or PartitionOffsets()

    @property
    def committed(self) -> Mapping[Partition, int]:
        return self.offsets.committed

    def commit(self, offsets: Mapping[Partition, int]) -> bool:
        """True when the offsets are acknowledged now; False when they go out later."""
        done = self._commit(offsets) if self._commit is not None else True
        if done:
            self.offsets.acknowledge(offsets)
        else:
            self.offsets.refuse(offsets)
        return done


@dataclass(frozen=True)
class CommitPolicy:
    """Commit at most every `min_interval_s` (0 = after every batch); join always commits."""

    min_interval_s: float = 0.0

    def due(self, last_commit_at: float, now: float) -> bool:
        return now - last_commit_at >= self.min_interval_s


class CommitStep(ProcessingStep[int]):
    """Payload: how many fetched messages the offsets cover."""

    def __init__(
        self,
        committer: Committer,
        policy: CommitPolicy,
        metrics: ClassifierMetrics,
    ) -> None:
        self._committer = committer
        self._policy = policy
        self._metrics = metrics
        self._offsets: dict[Partition, int] = {}
        self._messages = 0
        self._last = time.monotonic()

    def submit(self, message: Message[int]) -> None:
        for partition, offset in message.committable.items():
            self._offsets[partition] = max(offset, self._offsets.get(partition, offset))
        self._messages += message.payload
        self._metrics.in_flight.dec()
        self.poll()

    def poll(self) -> None:
        if self._offsets and self._policy.due(self._last, time.monotonic()):
            self._commit()

    def join(self, timeout: float | None = None) -> None:
        if self._offsets:
            self._commit()

    def close(self) -> None:
        return None

    def terminate(self) -> None:
        self._offsets.clear()
        self._messages = 0

    def _commit(self) -> None:
        self._committer.commit(self._offsets)
        self._metrics.committed.inc(self._messages)
        self._metrics.uncommitted.dec(self._messages)
        self._offsets, self._messages = {}, 0
        self._last = time.monotonic()
