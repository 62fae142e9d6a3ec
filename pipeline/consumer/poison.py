"""Poison records: a record that kills the worker again and again at the same offset.

Before a partition's fetched records are processed, their offsets are marked in flight in a
ledger (Postgres, so the count follows the partition to another host); a commit clears them
and a clean hand-back releases them. A mark still in flight when the partition is assigned
again is a crash. Once the marks still ahead of the committed offset add up to `threshold`
crashes, that range is processed one record at a time, each marked on its own; the record
whose own mark crashed is the culprit and is dead-lettered as `poison`, unprocessed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from pipeline.clock import Clock
from pipeline.consumer.crash_ledger import CrashLedger, CrashMark
from pipeline.consumer.decode import RawRecord, Rejected, dead_letter
from pipeline.consumer.steps import (
    ForwardingStep,
    Message,
    MessageRejected,
    Partition,
    ProcessingStep,
)
from pipeline.errors import StorageError
from pipeline.model.classify import Envelope
from pipeline.settings import EventSettings
from schemas import EventRejected

log = logging.getLogger(__name__)
LEDGER_WARN_EVERY_S = 30.0
R = TypeVar("R")


@dataclass(frozen=True)
class Suspicion:
    """Offsets resume_at..until of a partition hold a record that crashed the worker."""

    partition: Partition
    resume_at: int
    until: int
    crashes: int
    culprit: int | None = None

    def reason(self) -> str:
        p = self.partition
        return (
            f"poison: the record at {p.topic}[{p.index}]@{self.culprit} killed the worker "
            f"(crashes counted at this offset: {self.crashes}); dead-lettered unprocessed"
        )


def suspicion(marks: Iterable[CrashMark], resume_at: int, threshold: int) -> Suspicion | None:
    """What the crash marks still ahead of `resume_at` say about the records from there."""
    live = [m for m in marks if m.last >= resume_at]
    crashes = sum(m.crashes for m in live)
    if not live or crashes < threshold:
        return None
    culprit = next((m.first for m in live if m.isolated and m.first == resume_at), None)
    until = min(m.last for m in live)
    return Suspicion(live[0].partition, resume_at, until, crashes, culprit)


class PoisonWatch:
    """One per worker process; told of assignments, fetches, commits and clean hand-backs."""

    def __init__(self, ledger: CrashLedger, threshold: int) -> None:
        self._ledger = ledger
        self._threshold = threshold
        self._assigned: list[Partition] = []
        self._history: dict[Partition, list[CrashMark]] = {}
        self._suspects: dict[Partition, Suspicion] = {}
        self._open: dict[Partition, tuple[int, int]] = {}
        self._lasts: dict[Partition, set[int]] = {}
        self._warned_at = -LEDGER_WARN_EVERY_S

    def assigned(self, partitions: Iterable[Partition]) -> None:
        self._assigned = sorted(partitions)
        marks = self._safely("count crashes", lambda: self._ledger.count_crashes(self._assigned))
        self._history = {}
        for mark in marks or []:
            self._history.setdefault(mark.partition, []).append(mark)
            self._lasts.setdefault(mark.partition, set()).add(mark.last)

    def fetched(self, partition: Partition, first: int, last: int) -> None:
        """Called with each fetched run of a partition's records, before any is processed."""
        history = self._history.pop(partition, None)
        if history is not None:
            self._judge(partition, history, first)
        start, known = self._open.get(partition, (first, None))
        if known is not None and last <= known:
            return
        self._remember(partition, known, last)
        self._open[partition] = (start, last)
        self._safely(
            "mark in-flight offsets", lambda: self._ledger.mark(partition, start, last, False)
        )

    def committed(self, offsets: Mapping[Partition, int]) -> None:
        for partition, below in offsets.items():
            suspect = self._suspects.get(partition)
            if suspect is not None and below > suspect.until:
                del self._suspects[partition]
                log.info("%s[%d]: suspect range passed; batching again", *_where(partition))
            lasts = self._lasts.get(partition, set())
            if not any(last < below for last in lasts):
                continue
            self._lasts[partition] = {last for last in lasts if last >= below}
            still_open = self._open.get(partition)
            if still_open is not None and still_open[1] < below:
                del self._open[partition]
            self._safely("clear committed marks", partial(self._ledger.clear, partition, below))

    def released(self) -> None:
        """The partitions are handed back cleanly: nothing in flight crashed."""
        if self._assigned:
            self._safely("release in-flight marks", lambda: self._ledger.release(self._assigned))
        self._assigned, self._history, self._suspects = [], {}, {}
        self._open, self._lasts = {}, {}

    def poison(self, partition: Partition, offset: int) -> Suspicion | None:
        suspect = self._suspects.get(partition)
        return suspect if suspect is not None and suspect.culprit == offset else None

    def suspected(self, partition: Partition, offset: int) -> bool:
        suspect = self._suspects.get(partition)
        return suspect is not None and offset <= suspect.until

    def isolate(self, partition: Partition, offset: int) -> None:
        """Mark one suspect record in flight on its own, just before it is processed."""
        self._remember(partition, None, offset)
        self._safely(
            "mark a suspect record", lambda: self._ledger.mark(partition, offset, offset, True)
        )

    def _judge(self, partition: Partition, marks: list[CrashMark], resume_at: int) -> None:
        suspect = suspicion(marks, resume_at, self._threshold)
        if suspect is None:
            return
        self._suspects[partition] = suspect
        log.warning(
            "%s[%d]: the worker died %d times with offsets from %d in flight; "
            "processing up to offset %d one record at a time",
            *_where(partition),
            suspect.crashes,
            resume_at,
            suspect.until,
        )

    def _remember(self, partition: Partition, old: int | None, last: int) -> None:
        lasts = self._lasts.setdefault(partition, set())
        if old is not None:
            lasts.discard(old)
        lasts.add(last)

    def _safely(self, what: str, call: Callable[[], R]) -> R | None:
        # The watch is a safety net: a database outage weakens it, never stops the worker.
        try:
            return call()
        except StorageError as e:
            if time.monotonic() - self._warned_at >= LEDGER_WARN_EVERY_S:
                self._warned_at = time.monotonic()
                log.warning("crash ledger unavailable (%s): %s", what, e)
            return None


class PoisonGuard(ForwardingStep[RawRecord]):
    """The chain's head: dead-letters a known culprit; lets a suspect record in only alone."""

    def __init__(
        self,
        decode: ProcessingStep[RawRecord],
        letters: ProcessingStep[Envelope | Rejected],
        watch: PoisonWatch,
        committed: Mapping[Partition, int],
        events: EventSettings,
        clock: Clock,
    ) -> None:
        super().__init__(decode)
        self._letters = letters
        self._watch = watch
        self._committed = committed
        self._events = events
        self._clock = clock
        self._admitted: dict[Partition, int] = {}
        self._alone: tuple[Partition, int] | None = None

    def submit(self, message: Message[RawRecord]) -> None:
        where = message.payload.coordinates
        if where.topic is None or where.partition is None or where.offset is None:
            self._next.submit(message)  # no Kafka coordinates (embedded mode): nothing to watch
            return
        partition, offset = Partition(where.topic, where.partition), where.offset
        suspect = self._watch.poison(partition, offset)
        if suspect is not None:
            self._letters.submit(
                Message(self._poison(message.payload, suspect), message.committable)
            )
        else:
            self._admit(message, partition, offset)
        self._admitted[partition] = offset + 1

    def _admit(self, message: Message[RawRecord], partition: Partition, offset: int) -> None:
        if self._alone is not None and self._pending(*self._alone):
            raise MessageRejected("a suspect record is being processed alone")
        if self._watch.suspected(partition, offset):
            if any(self._pending(p, end) for p, end in self._admitted.items()):
                raise MessageRejected("a suspect record waits for the chain to empty")
            self._watch.isolate(partition, offset)
            self._next.submit(message)
            self._alone = (partition, offset + 1)
            return
        self._next.submit(message)

    def _pending(self, partition: Partition, end: int) -> bool:
        return self._committed.get(partition, -1) < end

    def _poison(self, raw: RawRecord, suspect: Suspicion) -> Rejected:
        log.error(suspect.reason())
        return dead_letter(
            raw, EventRejected(suspect.reason(), "poison"), self._events, self._clock
        )


def _where(partition: Partition) -> tuple[str, int]:
    return partition.topic, partition.index
