"""The consumer loop: polls, feeds the chain, pauses on backpressure, keeps offsets honest.

It polls on while the chain is full (partitions paused) so the member stays in its group,
and commits nothing itself: the chain's commit step does, through the Committer. The
rebalance callbacks run inside `poll` on this thread, so a revocation finishes the in-flight
work and commits its offsets before the partitions go.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

from pipeline.consumer.broker import CommitFailed, Consumer, Record
from pipeline.consumer.commit import Committer
from pipeline.consumer.decode import RawRecord
from pipeline.consumer.offsets import PartitionOffsets
from pipeline.consumer.poison import PoisonWatch
from pipeline.consumer.steps import Message, MessageRejected, Partition, ProcessingStep
from pipeline.items.scored import Coordinates
from pipeline.metrics import ClassifierMetrics
from pipeline.settings import ClassifierSettings

log = logging.getLogger(__name__)
LAG_EVERY_S = 1.0
BUSY_POLL_MS = 5
JOIN_POLL_MS = 1_000
COMMIT_RETRY_S = 0.5

ChainFactory = Callable[[Committer], ProcessingStep[RawRecord]]


class StreamProcessor:
    """Owns the consumer; builds a new chain per assignment, drains it on revocation."""

    def __init__(
        self,
        consumer: Consumer,
        topic: str,
        build: ChainFactory,
        settings: ClassifierSettings,
        metrics: ClassifierMetrics,
        poison: PoisonWatch | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self._consumer = consumer
        self._topic = topic
        self._build = build
        self._settings = settings
        self._metrics = metrics
        self._poison = poison
        self._stopping = stopping or threading.Event()
        self._offsets = PartitionOffsets()
        self._committer = Committer(self._commit, self._offsets)
        self._chain: ProcessingStep[RawRecord] | None = None
        self._carry: deque[Message[RawRecord]] = deque()
        self._paused = False
        self._retry_at = 0.0
        self._lag_at = 0.0

    @property
    def committed(self) -> Mapping[Partition, int]:
        """Offsets the broker acknowledged, next to read per partition."""
        return self._offsets.committed

    def stop(self) -> None:
        """Ask the loop to stop (safe from a signal handler)."""
        self._stopping.set()

    def run(self) -> None:
        if not self.subscribe():
            return
        while not self._stopping.is_set():
            self.step()
        self.shutdown()

    def subscribe(self) -> bool:
        """Join the group once the topic's partitions are known; False if stopped before."""
        while not self._stopping.is_set():
            if self._consumer.has_partitions(self._topic):
                self._consumer.subscribe(self._topic, self.on_assigned, self.on_revoked)
                log.info("classifier worker polling %s", self._topic)
                return True
            log.warning("topic %s has no partitions yet (run `finsent topics ensure`)", self._topic)
            self._stopping.wait(1.0)
        return False

    def step(self) -> None:
        """One turn: let the chain work, poll (rebalances happen here), feed what came."""
        if self._chain is not None:
            self._chain.poll()
        self._feed()
        records = self._consumer.poll(self._poll_timeout_ms())
        self._retry_refused_commits()
        self._accept(records)
        self._feed()
        if time.monotonic() - self._lag_at >= LAG_EVERY_S:
            self._report_lag()

    def shutdown(self) -> None:
        """Finish in-flight work within the drain timeout, then commit what is still owed."""
        self._drain(self._settings.drain_timeout_s, "shutdown")
        self._retry_at = 0.0
        self._retry_refused_commits()
        log.info("classifier worker stopped")

    def on_assigned(self, assigned: list[Partition]) -> None:
        log.info("assigned %s", sorted(f"{p.topic}[{p.index}]" for p in assigned))
        # Work dropped at revocation was never committed: start a partition we get back at
        # its first uncommitted offset, whatever fetch position the client kept.
        for partition, start in self._offsets.take_rewind(assigned).items():
            self._consumer.seek(partition, start)
        if self._poison is not None:
            self._poison.assigned(assigned)
        self._chain = self._build(self._committer)

    def on_revoked(self, revoked: list[Partition]) -> None:
        log.info("revoked %s", sorted(f"{p.topic}[{p.index}]" for p in revoked))
        self._drain(self._settings.revoke_timeout_s, "rebalance")
        # Offsets whose commit failed belong to the old generation now; replay covers them.
        self._offsets.forget_refused()

    def _poll_timeout_ms(self) -> int:
        if not self._consumer.assignment():
            # Joining the group happens inside poll: give it time to finish under load.
            return JOIN_POLL_MS
        busy = self._carry or self._offsets.awaiting_commit()
        return BUSY_POLL_MS if busy else self._settings.poll_timeout_ms

    def _accept(self, fetched: Mapping[Partition, Sequence[Record]]) -> None:
        for partition, batch in fetched.items():
            if not batch:
                continue
            self._carry.extend(_message(partition, record) for record in batch)
            first, last = batch[0].offset, batch[-1].offset
            if self._poison is not None:
                self._poison.fetched(partition, first, last)
            self._offsets.fetched(partition, first, last)
            self._metrics.uncommitted.inc(len(batch))

    def _feed(self) -> None:
        if self._chain is None:
            return
        while self._carry:
            try:
                self._chain.submit(self._carry[0])
            except MessageRejected:
                self._pause()
                return
            self._carry.popleft()
        self._resume()

    def _pause(self) -> None:
        if not self._paused:
            self._consumer.pause(self._consumer.assignment())
            self._paused = True
            self._metrics.paused.set(1)
            log.debug("backpressure: partitions paused, still polling")

    def _resume(self) -> None:
        if self._paused:
            self._consumer.resume(self._consumer.paused())
            self._paused = False
            self._metrics.paused.set(0)
            log.debug("backpressure cleared: partitions resumed")

    def _drain(self, timeout: float, why: str) -> None:
        """Finish in-flight work within `timeout` (rows, then offsets), then drop the rest."""
        chain, self._chain = self._chain, None
        if chain is not None:
            chain.close()
            chain.join(timeout)
            chain.terminate()
        if self._poison is not None:
            self._poison.released()
        dropped = len(self._carry)
        self._offsets.release()
        self._carry.clear()
        self._resume()
        for gauge in (self._metrics.in_flight, self._metrics.uncommitted, self._metrics.paused):
            gauge.set(0)
        log.info("%s: chain drained (%d fetched messages left uncommitted)", why, dropped)

    def _commit(self, offsets: Mapping[Partition, int]) -> bool:
        try:
            self._consumer.commit(offsets)
        except CommitFailed as e:
            # The rows are stored; retried after the next poll (a lost commit means replay).
            log.info("offset commit failed, retrying after the next poll: %s", e)
            return False
        if self._poison is not None:
            self._poison.committed(offsets)
        return True

    def _retry_refused_commits(self) -> None:
        """Commit again what failed (coordinator moving, broker restarting), for the
        partitions still owned, at most every COMMIT_RETRY_S."""
        if not self._offsets.refused or time.monotonic() - self._retry_at < COMMIT_RETRY_S:
            return
        owned = self._consumer.assignment()
        if not owned:
            return
        self._retry_at = time.monotonic()
        due = self._offsets.take_refused(owned)
        if due:
            self._committer.commit(due)

    def _report_lag(self) -> None:
        self._lag_at = time.monotonic()
        for partition in self._consumer.assignment():
            high = self._consumer.highwater(partition)
            done = self._offsets.committed.get(partition)
            if high is not None and done is not None:
                self._metrics.lag.labels(str(partition.index)).set(max(0, high - done))


def _message(partition: Partition, record: Record) -> Message[RawRecord]:
    where = Coordinates(
        partition.topic, partition.index, record.offset, record.timestamp, record.key
    )
    headers = tuple((k, v) for k, v in record.headers or () if v is not None)
    return Message(RawRecord(record.value, where, headers), {partition: record.offset + 1})
