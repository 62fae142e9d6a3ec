"""The commit step (always last), its policy, and the test-only crash point.

Offsets reach this step only after their rows are committed and their dead letters
acknowledged, so committing here can never lose an item.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from pipeline.consumer.offsets import PartitionOffsets
from pipeline.consumer.steps import ForwardingStep, Message, Partition, ProcessingStep
from pipeline.metrics import ClassifierMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")


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


class CrashPoint:
    """TEST ONLY: SIGKILL this process the n-th time it is reached (negative controls)."""

    def __init__(self, at: int | None) -> None:
        self._at = at
        self._reached = 0

    def reached(self, where: str) -> None:
        if self._at is None:
            return
        self._reached += 1
        if self._reached == self._at:
            log.warning("test crash point reached (%s): killing the worker", where)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)


class CommitStep(ProcessingStep[int]):
    """Payload: how many fetched messages the offsets cover."""

    def __init__(
        self,
        committer: Committer,
        policy: CommitPolicy,
        metrics: ClassifierMetrics,
        crash: CrashPoint | None = None,
    ) -> None:
        self._committer = committer
        self._policy = policy
        self._metrics = metrics
        self._crash = crash or CrashPoint(None)
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
        self._crash.reached("rows committed, offsets not yet")
        self._committer.commit(self._offsets)
        self._metrics.committed.inc(self._messages)
        self._metrics.uncommitted.dec(self._messages)
        self._offsets, self._messages = {}, 0
        self._last = time.monotonic()


class EarlyCommitStep(ForwardingStep[T]):
    """TEST ONLY (`testing.commit_order=offsets_first`): commits offsets before the rows.

    Exists so the kill -9 test can prove it detects loss; never used otherwise.
    """

    def __init__(
        self, next_step: ProcessingStep[T], committer: Committer, crash: CrashPoint
    ) -> None:
        super().__init__(next_step)
        self._committer = committer
        self._crash = crash

    def submit(self, message: Message[T]) -> None:
        # The crash counts only once the broker has the offsets: a deferred commit loses nothing.
        if self._committer.commit(message.committable):
            self._crash.reached("offsets committed, rows not yet")
        self._next.submit(message)
