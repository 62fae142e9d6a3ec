"""`finsent run`: classifier, scheduler and notifier in one process.

With Kafka configured the classifier consumes news.raw; without it (embedded) it replays a
file into the same chain and stores on the configured database (SQLite by default).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from pipeline import alert_metrics
from pipeline.consumer.replay import ReplayOptions, ReplaySource
from pipeline.settings import Settings
from pipeline.storage.migrate import upgrade
from workers.metrics_server import serve_metrics
from workers.shutdown import stop_event_on_signals

log = logging.getLogger(__name__)

# (module, function): each runs until `stop` is set; owned by the alerts feature.
COMPANIONS = (("workers.scheduler", "run_scheduler"), ("workers.notifier", "run_notifier"))


def run_all(settings: Settings, replay: Path | None, options: ReplayOptions) -> None:
    """Run until stopped; an embedded replay without `follow` ends when the file is done."""
    stop = stop_event_on_signals()
    serve_metrics(
        settings.metrics_host,
        settings.metrics_port,
        (alert_metrics.SCHEDULER, alert_metrics.NOTIFIER),
    )
    if settings.kafka.embedded:
        upgrade(settings.database.url.get_secret_value())
    if settings.kafka.embedded and replay is not None and not options.follow:
        replay_to_history(settings, replay, options, stop)
        return
    replaying = settings.kafka.embedded and replay is not None
    threads = [
        _start(name, fn, settings, stop, event_clock=replaying and name == "workers.scheduler")
        for name, fn in _companions()
    ]
    try:
        if not settings.kafka.embedded:
            from workers.classifier import run_classifier

            run_classifier(settings)
        elif replay is not None:
            from workers.embedded import classify_stream

            classify_stream(ReplaySource(replay, options), settings, stop)
        while not stop.is_set() and any(t.is_alive() for t in threads):
            stop.wait(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=settings.classifier.drain_timeout_s)


def replay_to_history(
    settings: Settings, replay: Path, options: ReplayOptions, stop: threading.Event
) -> None:
    """Classify the file, then run the rules over the replayed span on its event clock."""
    from pipeline.alerting.history import replay_history, stored_span
    from pipeline.storage.db import make_engine
    from workers.embedded import classify_stream

    classify_stream(ReplaySource(replay, options), settings, stop)
    if stop.is_set():
        return
    engine = make_engine(settings.database)
    try:
        span = stored_span(engine)
        if span is not None:
            replay_history(engine, settings, *span)
    finally:
        engine.dispose()


def _companions() -> list[tuple[str, Callable[[Settings, threading.Event], None]]]:
    found = []
    for module_name, function in COMPANIONS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            log.warning("%s is not available: running without it", module_name)
            continue
        found.append((module_name, getattr(module, function)))
    return found


def _start(
    name: str,
    fn: Callable[[Settings, threading.Event], None],
    settings: Settings,
    stop: threading.Event,
    event_clock: bool = False,
) -> threading.Thread:
    """A companion thread; with `event_clock` it runs on the replay's event clock."""
    args: tuple[object, ...] = (settings, stop)
    if event_clock:
        from pipeline.alerting.history import StoredEventClock
        from pipeline.storage.db import make_engine

        args = (settings, stop, StoredEventClock(make_engine(settings.database)))
    thread = threading.Thread(target=fn, args=args, name=name, daemon=True)
    thread.start()
    return thread
