"""`finsent worker classify`: the Kafka classifier worker's process wiring (DESIGN §1, §3).

The loop itself (poll, backpressure, offsets, rebalances) is pipeline/consumer/processor.py;
here the model, database, producer and consumer are made, handed to it, and closed.
"""

from __future__ import annotations

import logging
import threading

from kafka import KafkaConsumer, KafkaProducer
from sqlalchemy import Engine

from pipeline.clock import WallClock
from pipeline.consumer.crash_ledger import SqlCrashLedger
from pipeline.consumer.dead_letters import KafkaDeadLetterSink
from pipeline.consumer.factory import ChainDeps, StepWrapper, build_chain
from pipeline.consumer.kafka_adapter import KafkaBrokerConsumer
from pipeline.consumer.poison import PoisonWatch
from pipeline.consumer.processor import StreamProcessor
from pipeline.consumer.store import ScoredPublisher
from pipeline.metrics import ClassifierMetrics
from pipeline.settings import KafkaSettings, Settings
from pipeline.storage.db import make_engine
from workers.model_loading import batch_classifier, load_runtime, record_provider
from workers.shutdown import stop_on_signals

log = logging.getLogger(__name__)


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
    # First: a SIGTERM while the model loads still exits cleanly.
    stop_on_signals(stopping.set, "stopping fetch, draining")
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
    processor = StreamProcessor(
        KafkaBrokerConsumer(consumer),
        kafka.raw_topic,
        lambda committer: build_chain(deps, committer),
        settings.classifier,
        metrics,
        deps.poison,
        stopping,
    )
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
