"""Embedded classification: a replay source through the same chain, onto SQLite (or any DB).

No Kafka: there are no offsets to commit, and dead letters go to a JSONL file.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from pipeline.clock import Clock, WallClock
from pipeline.consumer.commit import Committer
from pipeline.consumer.dead_letters import FileDeadLetterSink
from pipeline.consumer.decode import RawRecord
from pipeline.consumer.factory import Chain, ChainDeps, build_chain
from pipeline.consumer.replay import ReplayEvent, pace
from pipeline.consumer.steps import Message, MessageRejected
from pipeline.items.scored import Coordinates
from pipeline.metrics import ClassifierMetrics
from pipeline.settings import Settings
from pipeline.storage.db import make_engine
from workers.model_loading import batch_classifier, load_runtime, record_provider

log = logging.getLogger(__name__)


def dead_letter_path(settings: Settings) -> Path:
    return settings.classifier.dead_letter_file or settings.cache_dir / "dead_letters.jsonl"


def classify_stream(
    events: Iterable[ReplayEvent],
    settings: Settings,
    stop: threading.Event | None = None,
    clock: Clock | None = None,
    metrics: ClassifierMetrics | None = None,
) -> int:
    """Classify and store every event (paced by its due time); returns how many were fed."""
    metrics = metrics or ClassifierMetrics()
    stop = stop or threading.Event()
    runtime, model = load_runtime(settings)
    record_provider(runtime, metrics)
    engine = make_engine(settings.database)
    sink = FileDeadLetterSink(dead_letter_path(settings))
    deps = ChainDeps(
        settings,
        batch_classifier(runtime, engine, settings),
        engine,
        model,
        clock or WallClock(),
        metrics,
        sink,
    )
    chain = build_chain(deps, Committer())
    fed = 0
    try:
        for event in pace(iter(events), idle=chain.poll):
            if stop.is_set():
                break
            _submit(chain, Message(RawRecord(event.value, Coordinates(key=event.key))), stop)
            chain.poll()
            fed += 1
        chain.close()
        chain.join(settings.classifier.drain_timeout_s)
    finally:
        chain.terminate()
        engine.dispose()
    log.info("embedded replay done: %d events", fed)
    return fed


def _submit(chain: Chain, message: Message[RawRecord], stop: threading.Event) -> None:
    """Backpressure without Kafka: keep the chain moving until it takes the message."""
    while True:
        try:
            chain.submit(message)
            return
        except MessageRejected:
            if stop.is_set():
                return
            chain.poll()
            time.sleep(0.002)
