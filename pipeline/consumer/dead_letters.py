"""Dead letters: where rejected messages go, and the step that sends them in order.

A dead-lettered message's offset counts as done only once its write is acknowledged: the
acknowledgement travels down the chain and the store stage waits for it before the commit.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.errors import KafkaError

from pipeline.consumer.decode import Rejected, build_rejected
from pipeline.consumer.steps import ForwardingStep, Message, ProcessingStep
from pipeline.errors import FinsentError
from pipeline.items.scored import ScoredEvent
from pipeline.metrics import ClassifierMetrics
from pipeline.model.classify import Envelope


class DeadLetterError(FinsentError):
    """A dead letter was not acknowledged; its offset must not be committed."""


class Acknowledgement(Protocol):
    def wait(self, timeout: float) -> None:
        """Return once the write is durable; raise DeadLetterError if it failed."""
        ...


class DeadLetterSink(Protocol):
    def send(self, rejected: Rejected) -> Acknowledgement: ...


class _KafkaAck:
    def __init__(self, future: Any) -> None:
        self._future = future

    def wait(self, timeout: float) -> None:
        try:
            self._future.get(timeout=timeout)
        except KafkaError as e:
            raise DeadLetterError(f"dead letter not acknowledged: {e}") from e


class KafkaDeadLetterSink:
    """Writes to the DLQ topic: headers describe the rejection, the value is the original."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    def send(self, rejected: Rejected) -> Acknowledgement:
        future = self._producer.send(
            self._topic,
            value=rejected.value,
            key=rejected.key,
            headers=rejected.letter.to_headers(),
        )
        return _KafkaAck(future)


class _Done:
    def wait(self, timeout: float) -> None:
        return None


class FileDeadLetterSink:
    """Embedded mode: one JSON line per dead letter, appended and flushed before the ack."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()

    def send(self, rejected: Rejected) -> Acknowledgement:
        line = {
            "letter": rejected.letter.model_dump(mode="json"),
            "value": rejected.value.decode("utf-8", "replace"),
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self._path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")
        return _Done()


def refused_row(item: ScoredEvent, reason: str, when: datetime) -> Rejected:
    """The dead letter of a valid event whose row the database refused (kind `storage`)."""
    value = item.event.model_dump_json(exclude={"warnings"}).encode("utf-8")
    return build_rejected(
        value,
        item.coordinates,
        when,
        reason=f"database refused the item: {reason}",
        kind="storage",
    )


@dataclass(frozen=True)
class Parked:
    """A dead letter on its way: done when `ack` succeeds; resent through `sink` if not."""

    rejected: Rejected
    ack: Acknowledgement
    sink: DeadLetterSink


class DeadLetterStep(ForwardingStep[Envelope | Rejected]):
    def __init__(
        self,
        next_step: ProcessingStep[Envelope | Parked],
        sink: DeadLetterSink,
        metrics: ClassifierMetrics,
    ) -> None:
        super().__init__(next_step)
        self._sink = sink
        self._metrics = metrics
        # The last letter sent whose hand-off was rejected: resubmitted, it is not sent twice.
        self._unforwarded: tuple[object, Parked] | None = None

    def submit(self, message: Message[Envelope | Rejected]) -> None:
        payload = message.payload
        if isinstance(payload, Envelope):
            self._next.submit(Message(payload, message.committable))
            return
        parked = self._park(payload)
        try:
            self._next.submit(Message(parked, message.committable))
        except Exception:
            self._unforwarded = (_identity(payload), parked)
            raise
        self._unforwarded = None
        self._metrics.dead_letters.labels(payload.letter.kind).inc()

    def _park(self, rejected: Rejected) -> Parked:
        if self._unforwarded is not None and self._unforwarded[0] == _identity(rejected):
            return self._unforwarded[1]
        return Parked(rejected, self._sink.send(rejected), self._sink)


def _identity(rejected: Rejected) -> object:
    letter = rejected.letter
    return (letter.original_topic, letter.original_partition, letter.original_offset, letter.sha256)
