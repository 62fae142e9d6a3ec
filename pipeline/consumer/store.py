"""The two threaded tasks of the chain: score a batch, then make it durable.

The write retries with backoff until it succeeds or the chain is terminated: a slow or
absent database backs the chain up (the consumer pauses), it never drops a batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from kafka import KafkaProducer
from sqlalchemy import Engine

from pipeline.clock import Clock
from pipeline.consumer.batch_step import WorkBatch
from pipeline.consumer.dead_letters import DeadLetterError, DeadLetterSink, Parked, refused_row
from pipeline.errors import FinsentError, StorageError
from pipeline.items.scored import ModelRecord, ScoredEvent
from pipeline.metrics import ClassifierMetrics
from pipeline.model.classify import BatchClassifier
from pipeline.model.label_drift import LabelDrift
from pipeline.storage.results import (
    ResultBatch,
    RowsRejectedError,
    TimePolicy,
    WriteCounts,
    store_batch,
)
from schemas import Classification

log = logging.getLogger(__name__)

DLQ_ACK_TIMEOUT_S = 30.0


class CancelledError(FinsentError):
    """The chain was terminated while this task waited to retry."""


@dataclass(frozen=True)
class ScoredWork:
    items: list[ScoredEvent]
    parked: list[Parked]
    processed_at: datetime
    messages: int


class InferenceTask:
    def __init__(
        self,
        classifier: BatchClassifier,
        clock: Clock,
        metrics: ClassifierMetrics,
        drift: LabelDrift | None = None,
    ) -> None:
        self._classifier = classifier
        self._clock = clock
        self._metrics = metrics
        self._drift = drift or LabelDrift(None)

    def __call__(self, batch: WorkBatch) -> ScoredWork:
        started = time.perf_counter()
        result = self._classifier.classify(batch.envelopes)
        if batch.envelopes:
            self._metrics.inference_seconds.observe(time.perf_counter() - started)
        self._metrics.inferences.inc(result.inferred)
        self._metrics.reprints.inc(result.reprints)
        self._record_shares(result.items)
        return ScoredWork(result.items, batch.parked, self._clock.now(), len(batch))

    def _record_shares(self, items: Sequence[ScoredEvent]) -> None:
        shares = self._drift.observe(self._clock.now(), (i.scores.sentiment for i in items))
        for sentiment, share in shares.items():
            self._metrics.sentiment_share.labels(sentiment).set(share)
        for sentiment, drift in self._drift.drift(shares).items():
            self._metrics.sentiment_drift.labels(sentiment).set(drift)


class ScoredPublisher:
    """Publishes results to `news.scored`, keyed by item id; flushed before the commit."""

    def __init__(self, producer: KafkaProducer, topic: str, model_version: str) -> None:
        self._producer = producer
        self._topic = topic
        self._version = model_version

    def publish(
        self, items: Sequence[ScoredEvent], processed_at: datetime, policy: TimePolicy
    ) -> None:
        for item in items:
            record = _classification(item, self._version, processed_at, policy)
            self._producer.send(
                self._topic,
                key=item.event.id.encode("utf-8"),
                value=record.model_dump_json().encode("utf-8"),
            )
        self._producer.flush()


class StoreTask:
    """Rows (one transaction), dead-letter acks, optional publish; returns messages done."""

    def __init__(
        self,
        engine: Engine,
        model: ModelRecord,
        policy: TimePolicy,
        metrics: ClassifierMetrics,
        backoff_max_s: float,
        dead_letters: DeadLetterSink,
        publisher: ScoredPublisher | None = None,
    ) -> None:
        self._engine = engine
        self._dead_letters = dead_letters
        self._model = model
        self._policy = policy
        self._metrics = metrics
        self._backoff_max_s = backoff_max_s
        self._publisher = publisher
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    def __call__(self, work: ScoredWork) -> int:
        stored: Sequence[ScoredEvent] = work.items
        if work.items:
            stored = self._write(ResultBatch(self._model, work.items, work.processed_at))
        for parked in work.parked:
            self._acknowledge(parked)
        if self._publisher is not None and stored:
            self._publisher.publish(stored, work.processed_at, self._policy)
        self._metrics.batches.inc()
        return work.messages

    def _write(self, batch: ResultBatch) -> Sequence[ScoredEvent]:
        """Store the batch; items the database refuses become dead letters. Returns the rest."""
        try:
            self._attempt(batch)
            return batch.items
        except RowsRejectedError as e:
            log.warning("%s; storing the batch item by item", str(e).splitlines()[0][:300])
        stored = []
        for item in batch.items:
            try:
                self._attempt(ResultBatch(batch.model, [item], batch.processed_at))
                stored.append(item)
            except RowsRejectedError as e:
                self._acknowledge(self._park(item, batch.processed_at, str(e)))
        return stored

    def _attempt(self, batch: ResultBatch) -> None:
        """One transaction, retried with backoff while the database is unavailable."""
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                counts = store_batch(self._engine, batch, self._policy)
            except RowsRejectedError:
                raise
            except StorageError as e:
                attempt += 1
                self._metrics.write_failures.inc()
                self._back_off(attempt, f"write failed: {e}")
                continue
            self._metrics.write_seconds.observe(time.perf_counter() - started)
            self._count_rows(counts)
            return

    def _park(self, item: ScoredEvent, when: datetime, reason: str) -> Parked:
        rejected = refused_row(item, reason.splitlines()[0][:1000], when)
        self._metrics.dead_letters.labels(rejected.letter.kind).inc()
        return Parked(rejected, self._dead_letters.send(rejected), self._dead_letters)

    def _count_rows(self, counts: WriteCounts) -> None:
        for table, n in (
            ("items", counts.items),
            ("classifications", counts.classifications),
            ("mentions", counts.mentions),
        ):
            self._metrics.rows.labels(table).inc(n)

    def _acknowledge(self, parked: Parked) -> None:
        ack, attempt = parked.ack, 0
        while True:
            try:
                ack.wait(DLQ_ACK_TIMEOUT_S)
                return
            except DeadLetterError as e:
                attempt += 1
                self._back_off(attempt, str(e))
                ack = parked.sink.send(parked.rejected)

    def _back_off(self, attempt: int, why: str) -> None:
        delay = min(self._backoff_max_s, 0.1 * 2 ** min(attempt, 10))
        log.warning("%s; retry %d in %.1fs", why.splitlines()[0][:300], attempt, delay)
        if self._cancelled.wait(delay):
            raise CancelledError("store cancelled while retrying")


def _classification(
    item: ScoredEvent, version: str, processed_at: datetime, policy: TimePolicy
) -> Classification:
    s, event, where = item.scores, item.event, item.coordinates
    return Classification(
        item_id=event.id,
        model_version=version,
        topic=s.topic,
        topic_confidence=s.topic_confidence,
        sentiment=s.sentiment,
        p_negative=s.p_negative,
        p_neutral=s.p_neutral,
        p_positive=s.p_positive,
        score=s.score,
        tickers=tuple(m.symbol for m in item.mentions),
        event_time=policy.event_time(event.published_at, processed_at),
        processed_at=processed_at,
        reprint_of=item.reprint_of,
        kafka_topic=where.topic,
        kafka_partition=where.partition,
        kafka_offset=where.offset,
    )
