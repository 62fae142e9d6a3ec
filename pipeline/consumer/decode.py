"""Decode and validate raw records; rejected ones become dead letters, never exceptions."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from pipeline.classify import Envelope
from pipeline.clock import Clock
from pipeline.consumer.steps import ForwardingStep, Message, ProcessingStep
from pipeline.language import with_language
from pipeline.metrics import ClassifierMetrics
from pipeline.scored import Coordinates
from pipeline.settings import EventSettings
from schemas import DeadLetter, EventRejected, decode_news_event

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawRecord:
    """A record as fetched: bytes (None for a tombstone) and its coordinates."""

    value: bytes | None
    coordinates: Coordinates = field(default_factory=Coordinates)


@dataclass(frozen=True)
class Rejected:
    """A message that cannot be an event: the dead letter and the bytes to keep."""

    letter: DeadLetter
    value: bytes
    key: bytes | None = None


def dead_letter(
    raw: RawRecord, rejection: EventRejected, events: EventSettings, clock: Clock
) -> Rejected:
    """The DLQ record of a rejected message; an oversize one keeps only its first bytes."""
    value = raw.value or b""
    truncated = len(value) > events.max_event_bytes
    where = raw.coordinates
    letter = DeadLetter(
        reason=rejection.reason,
        kind=rejection.kind,
        original_topic=where.topic,
        original_partition=where.partition,
        original_offset=where.offset,
        original_timestamp_ms=where.timestamp_ms,
        original_key=where.key.decode("utf-8", "replace") if where.key else None,
        size=len(value),
        sha256=hashlib.sha256(value).hexdigest(),
        truncated=truncated,
        replayable=not truncated,
        failed_at=clock.now(),
    )
    kept = value[: events.dlq_excerpt_bytes] if truncated else value
    return Rejected(letter, kept, where.key)


class DecodeStep(ForwardingStep[RawRecord]):
    def __init__(
        self,
        next_step: ProcessingStep[Envelope | Rejected],
        events: EventSettings,
        clock: Clock,
        metrics: ClassifierMetrics,
    ) -> None:
        super().__init__(next_step)
        self._events = events
        self._clock = clock
        self._metrics = metrics

    def submit(self, message: Message[RawRecord]) -> None:
        decoded = self._decode(message.payload)
        self._next.submit(Message(decoded, message.committable))
        self._metrics.messages.labels(
            "valid" if isinstance(decoded, Envelope) else "rejected"
        ).inc()

    def _decode(self, raw: RawRecord) -> Envelope | Rejected:
        try:
            if raw.value is None:
                raise EventRejected("tombstone: the record has no value", "empty")
            event = decode_news_event(raw.value, self._events.max_event_bytes)
        except EventRejected as rejection:
            return dead_letter(raw, rejection, self._events, self._clock)
        except Exception as e:  # one bad message must never stop the worker
            return self._internal_failure(raw, e)
        if self._events.detect_language:
            event = with_language(event)
        return Envelope(event, raw.coordinates)

    def _internal_failure(self, raw: RawRecord, error: Exception) -> Rejected:
        # A bug or a limit we did not foresee: dead-letter this message, keep the partition moving.
        kind = type(error).__name__
        where = raw.coordinates
        log.error(
            "decoding the message at %s[%s]@%s failed with %s; dead-lettered as internal",
            where.topic,
            where.partition,
            where.offset,
            kind,
        )
        self._metrics.decode_failures.labels(kind).inc()
        reason = f"internal error while decoding: {kind}: {error}"[:500]
        rejection = EventRejected(reason, "internal")
        return dead_letter(raw, rejection, self._events, self._clock)
