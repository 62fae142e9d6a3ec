"""`finsent worker classify`: the Kafka classifier worker (DESIGN §1, §3).

The loop polls, feeds the chain, pauses partitions while the chain is full and keeps
polling so the worker stays in its group; it commits nothing itself (the chain does).
kafka-python 2.x runs the rebalance listener inside `poll()` on this thread, so a
revocation finishes the in-flight work and commits its offsets before the partitions go.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Mapping
from types import FrameType
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from sqlalchemy import Engine

from pipeline.clock import WallClock
from pipeline.consumer.commit import Committer
from pipeline.consumer.crash_ledger import SqlCrashLedger
from pipeline.consumer.dead_letters import KafkaDeadLetterSink
from pipeline.consumer.decode import RawRecord
from pipeline.consumer.factory import Chain, ChainDeps, StepWrapper, build_chain
from pipeline.consumer.poison import PoisonWatch
from pipeline.consumer.steps import Message, MessageRejected, Partition
from pipeline.consumer.store import ScoredPublisher
from pipeline.metrics import ClassifierMetrics
from pipeline.scored import Coordinates
from pipeline.settings import KafkaSettings, Settings
from pipeline.storage.db import make_engine
from workers.model_loading import batch_classifier, load_runtime, record_provider

log = logging.getLogger(__name__)
LAG_EVERY_S = 1.0
BUSY_POLL_MS = 5
JOIN_POLL_MS = 1_000
COMMIT_RETRY_S = 0.5


class StreamProcessor:
    """Owns the consumer; builds a new chain per assignment, drains it on revocation."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        deps: ChainDeps,
        settings: Settings,
        stopping: threading.Event | None = None,
    ) -> None:
        self._consumer = consumer
        self._deps = deps
        self._settings = settings
        self._metrics = deps.metrics
        self._chain: Chain | None = None
        self._committer = Committer(self._commit_offsets)
        self._carry: deque[Message[RawRecord]] = deque()
        self._consumed: dict[Partition, int] = {}
        self._first_fetched: dict[Partition, int] = {}
        self._rewind: dict[Partition, int] = {}
        self._paused = False
        self._retry_at = 0.0
        self._failed_commits: dict[TopicPartition, OffsetAndMetadata] = {}
        self._stopping = stopping or threading.Event()
        self._lag_at = 0.0
        self._poison = deps.poison

    def stop(self, *_: Any) -> None:
        """Ask the loop to stop (safe from a signal handler)."""
        self._stopping.set()

    def run(self) -> None:
        self._await_topic()
        self._consumer.subscribe([self._settings.kafka.raw_topic], listener=_Listener(self))
        log.info("classifier worker polling %s", self._settings.kafka.raw_topic)
        while not self._stopping.is_set():
            self._step()
        self._drain(self._settings.classifier.drain_timeout_s, "shutdown")
        self._retry_at = 0.0
        self._retry_failed_commits()
        log.info("classifier worker stopped")

    def _await_topic(self) -> None:
        """Join only once the topic's partitions are known, and say why while they are not."""
        topic = self._settings.kafka.raw_topic
        while not self._stopping.is_set():
            if self._consumer.partitions_for_topic(topic):
                return
            log.warning("topic %s has no partitions yet (run `finsent topics ensure`)", topic)
            self._stopping.wait(1.0)

    def _step(self) -> None:
        if self._chain is not None:
            self._chain.poll()
        self._feed()
        records = self._consumer.poll(timeout_ms=self._poll_timeout_ms())
        self._retry_failed_commits()
        self._accept(records)
        self._feed()
        if time.monotonic() - self._lag_at >= LAG_EVERY_S:
            self._report_lag()

    def _poll_timeout_ms(self) -> int:
        if not self._consumer.assignment():
            # Joining the group happens inside poll: give it time to finish under load.
            return JOIN_POLL_MS
        busy = self._carry or any(
            offset > self._committer.committed.get(p, -1) for p, offset in self._consumed.items()
        )
        return BUSY_POLL_MS if busy else self._settings.classifier.poll_timeout_ms

    def _accept(self, records: Mapping[TopicPartition, list[Any]]) -> None:
        for tp, batch in records.items():
            partition = Partition(tp.topic, tp.partition)
            for record in batch:
                self._carry.append(_message(partition, record))
            if batch:
                if self._poison is not None:
                    self._poison.fetched(partition, batch[0].offset, batch[-1].offset)
                self._first_fetched.setdefault(partition, batch[0].offset)
                self._consumed[partition] = batch[-1].offset + 1
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
            self._consumer.pause(*self._consumer.assignment())
            self._paused = True
            self._metrics.paused.set(1)
            log.debug("backpressure: partitions paused, still polling")

    def _resume(self) -> None:
        if self._paused:
            self._consumer.resume(*self._consumer.paused())
            self._paused = False
            self._metrics.paused.set(0)
            log.debug("backpressure cleared: partitions resumed")

    def on_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
        # Work dropped at revocation was never committed: start a partition we get back at
        # its first unfinished offset, whatever fetch position the client kept.
        for tp in assigned:
            start = self._rewind.get(Partition(tp.topic, tp.partition))
            if start is not None:
                self._consumer.seek(tp, start)
        self._rewind = {}
        if self._poison is not None:
            self._poison.assigned(Partition(tp.topic, tp.partition) for tp in assigned)
        self._chain = build_chain(self._deps, self._committer)

    def on_revoked(self, revoked: list[TopicPartition]) -> None:
        log.info("revoked %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in revoked))
        self._drain(self._settings.classifier.revoke_timeout_s, "rebalance")
        # Offsets whose commit failed belong to the old generation now; replay covers them.
        self._failed_commits = {}

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
        self._rewind = self._unfinished_starts()
        self._carry.clear()
        self._consumed.clear()
        self._first_fetched.clear()
        if self._paused:
            self._consumer.resume(*self._consumer.paused())
        self._paused = False
        for gauge in (self._metrics.in_flight, self._metrics.uncommitted, self._metrics.paused):
            gauge.set(0)
        log.info("%s: chain drained (%d fetched messages left uncommitted)", why, dropped)

    def _unfinished_starts(self) -> dict[Partition, int]:
        """Per partition with uncommitted fetched messages, the first such offset."""
        starts = {}
        for partition, consumed in self._consumed.items():
            start = max(
                self._committer.committed.get(partition, -1), self._first_fetched[partition]
            )
            if consumed > start:
                starts[partition] = start
        return starts

    def _commit_offsets(self, offsets: Mapping[Partition, int]) -> bool:
        request = {
            TopicPartition(p.topic, p.index): OffsetAndMetadata(offset, "", -1)
            for p, offset in offsets.items()
        }
        try:
            self._consumer.commit(request)
        except KafkaError as e:
            # The rows are stored; retried after the next poll (a lost commit means replay).
            log.info("offset commit failed, retrying after the next poll: %s", e)
            self._failed_commits.update(request)
            return False
        for tp in request:
            self._failed_commits.pop(tp, None)  # superseded: never commit an older offset after
        if self._poison is not None:
            self._poison.committed(offsets)
        return True

    def _retry_failed_commits(self) -> None:
        """Commit again what failed (coordinator moving, broker restarting), for the
        partitions still owned, at most every COMMIT_RETRY_S."""
        owned = self._consumer.assignment()
        if not self._failed_commits or not owned:
            return
        if time.monotonic() - self._retry_at < COMMIT_RETRY_S:
            return
        self._retry_at = time.monotonic()
        due = {tp: offset for tp, offset in self._failed_commits.items() if tp in owned}
        self._failed_commits = {}
        if not due:
            return
        try:
            self._consumer.commit(due)
        except KafkaError as e:
            log.info("offset commit still failing (retrying): %s", e)
            self._failed_commits = {**due, **self._failed_commits}

    def _report_lag(self) -> None:
        self._lag_at = time.monotonic()
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            done = self._committer.committed.get(Partition(tp.topic, tp.partition))
            if high is not None and done is not None:
                self._metrics.lag.labels(str(tp.partition)).set(max(0, high - done))


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped kafka-python base
    def __init__(self, processor: StreamProcessor) -> None:
        self._processor = processor

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._processor.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._processor.on_assigned(assigned)


def _message(partition: Partition, record: Any) -> Message[RawRecord]:
    where = Coordinates(
        partition.topic, partition.index, record.offset, record.timestamp, record.key
    )
    headers = tuple((k, v) for k, v in record.headers or () if v is not None)
    return Message(RawRecord(record.value, where, headers), {partition: record.offset + 1})


def make_consumer(kafka: KafkaSettings) -> KafkaConsumer:
    return KafkaConsumer(
        group_id=kafka.group,
        client_id=f"{kafka.client_id}-classifier",
        enable_auto_commit=False,
        auto_offset_reset=kafka.auto_offset_reset,
        max_poll_records=kafka.max_poll_records,
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        max_poll_interval_ms=kafka.max_poll_interval_ms,
        **kafka.fetch_options(),
        **kafka.client_options(),
    )


def make_producer(kafka: KafkaSettings) -> KafkaProducer:
    return KafkaProducer(
        client_id=f"{kafka.client_id}-classifier",
        acks="all",
        linger_ms=5,
        max_request_size=kafka.max_message_bytes,
        **kafka.client_options(),
    )


def run_classifier(
    settings: Settings,
    metrics: ClassifierMetrics | None = None,
    wrap: StepWrapper | None = None,
) -> None:
    """Run the worker until SIGTERM/SIGINT; drains, commits and returns (exit 0).

    `wrap` is for the tests' faulty worker (tests/faulty_worker.py); production passes none.
    """
    stopping = threading.Event()
    _on_signals(stopping.set)  # first: a SIGTERM while the model loads still exits cleanly
    metrics = metrics or ClassifierMetrics()
    runtime, model = load_runtime(settings)
    record_provider(runtime, metrics)
    engine = make_engine(settings.database)
    producer = make_producer(settings.kafka)
    kafka = settings.kafka
    publisher = (
        ScoredPublisher(producer, kafka.scored_topic, model.version)
        if kafka.publish_scored
        else None
    )
    clock = WallClock()
    deps = ChainDeps(
        settings,
        batch_classifier(runtime, engine, settings),
        engine,
        model,
        clock,
        metrics,
        KafkaDeadLetterSink(producer, kafka.dlq_topic),
        publisher,
        poison_watch(engine, settings, clock),
        wrap,
    )
    consumer = make_consumer(kafka)
    processor = StreamProcessor(consumer, deps, settings, stopping)
    try:
        processor.run()
    finally:
        consumer.close(autocommit=False)
        producer.close(timeout=10)
        engine.dispose()


def poison_watch(engine: Engine, settings: Settings, clock: WallClock) -> PoisonWatch | None:
    threshold = settings.classifier.poison_crashes
    if threshold == 0:
        return None
    return PoisonWatch(SqlCrashLedger(engine, settings.kafka.group, clock.now), threshold)


def _on_signals(stop: Any) -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping fetch, draining", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def main(wrap: StepWrapper | None = None) -> None:
    """`python -m workers.classifier`: the worker without the CLI's other imports."""
    from pipeline.storage.db import open_database
    from workers.invocation import run_guarded, settings
    from workers.metrics_server import serve_metrics

    def start() -> None:
        config = settings()
        open_database(config.database).dispose()  # fail fast: unreachable, or no schema
        serve_metrics(config.metrics_host, config.metrics_port)
        run_classifier(config, wrap=wrap)

    run_guarded(start)


if __name__ == "__main__":
    main()
