"""Decode and validate raw records; rejected ones become dead letters, never exceptions."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from pipeline.clock import Clock
from pipeline.consumer.steps import ForwardingStep, Message, ProcessingStep
from pipeline.items.language import load_detector, with_language
from pipeline.items.scored import Coordinates
from pipeline.metrics import ClassifierMetrics
from pipeline.model.classify import Envelope
from pipeline.settings import EventSettings
from schemas import DeadLetter, EventRejected, decode_news_event

log = logging.getLogger(__name__)


REPLAY_OF_HEADER = "finsent-replay.of"
REPLAY_ORIGINAL_HEADER = "finsent-replay.original"


@dataclass(frozen=True)
class RawRecord:
    """A record as fetched: bytes (None for a tombstone), its coordinates and headers."""

    value: bytes | None
    coordinates: Coordinates = field(default_factory=Coordinates)
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Lineage:
    """Where a replayed record first came from: its DLQ letter and the original coordinates."""

    replay_of: str | None
    topic: str | None
    partition: int | None
    offset: int | None

    @classmethod
    def of(cls, raw: RawRecord) -> Lineage:
        """The record's own coordinates, or, for a replay, those its headers carry."""
        where = raw.coordinates
        headers = {k: v.decode("utf-8", "replace") for k, v in raw.headers if v is not None}
        replay_of = headers.get(REPLAY_OF_HEADER)
        original = headers.get(REPLAY_ORIGINAL_HEADER, "").rsplit(":", 2)
        if replay_of is None or len(original) != 3:
            return cls(None, where.topic, where.partition, where.offset)
        topic, partition, offset = original
        try:
            return cls(replay_of, topic or None, int(partition), int(offset))
        except ValueError:
            return cls(replay_of, where.topic, where.partition, where.offset)


@dataclass(frozen=True)
class Rejected:
    """A message that cannot be an event: the dead letter and the bytes to keep."""

    letter: DeadLetter
    value: bytes
    key: bytes | None = None


def dead_letter(
    raw: RawRecord, rejection: EventRejected, events: EventSettings, clock: Clock
) -> Rejected:
    """The DLQ record of a rejected message; an oversize one keeps only its first bytes.

    A bounced replay keeps the coordinates of the message that was first dead-lettered."""
    value = raw.value or b""
    excerpt = events.dlq_excerpt_bytes if len(value) > events.max_event_bytes else None
    return build_rejected(
        value,
        raw.coordinates,
        clock.now(),
        reason=rejection.reason,
        kind=rejection.kind,
        lineage=Lineage.of(raw),
        excerpt=excerpt,
    )


def build_rejected(
    value: bytes,
    where: Coordinates,
    failed_at: datetime,
    *,
    reason: str,
    kind: str,
    lineage: Lineage | None = None,
    excerpt: int | None = None,
) -> Rejected:
    """The one builder of dead letters. The letter names the coordinates of `lineage` (a
    bounced replay's first rejection), else `where`; with `excerpt`, only that many first
    bytes are kept and the letter is marked truncated and not replayable."""
    origin = lineage or Lineage(None, where.topic, where.partition, where.offset)
    letter = DeadLetter(
        reason=reason,
        kind=kind,
        original_topic=origin.topic,
        original_partition=origin.partition,
        original_offset=origin.offset,
        replay_of=origin.replay_of,
        original_timestamp_ms=where.timestamp_ms,
        original_key=where.key.decode("utf-8", "replace") if where.key else None,
        size=len(value),
        sha256=hashlib.sha256(value).hexdigest(),
        truncated=excerpt is not None,
        replayable=excerpt is None,
        failed_at=failed_at,
    )
    kept = value if excerpt is None else value[:excerpt]
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
        if events.detect_language:
            load_detector()  # at start-up, not inside the first message's latency

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
