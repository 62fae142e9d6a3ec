"""`finsent worker notify`: deliver due webhook notifications every poll interval.

Several may run: claims use FOR UPDATE SKIP LOCKED, so each delivery goes to one of them.
"""

from __future__ import annotations

import logging
import threading

import httpx

from pipeline import alert_metrics
from pipeline.boundary import log_failure
from pipeline.clock import Clock, WallClock
from pipeline.delivery.notifier import deliver_due
from pipeline.settings import Settings
from pipeline.storage.db import make_engine, open_database

log = logging.getLogger(__name__)


def run_notifier(settings: Settings, stop: threading.Event, clock: Clock | None = None) -> None:
    """Poll until `stop` is set; a full batch polls again at once."""
    engine = make_engine(settings.database)
    wall = clock or WallClock()
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        while not stop.is_set():
            try:
                report = deliver_due(engine, settings.webhooks, wall, client)
            except Exception as e:  # the next poll retries; only a bug is worth its traceback
                log_failure(log, "notifier poll failed", e)
                report = None
            if report is None or report.claimed < settings.webhooks.claim_batch:
                stop.wait(settings.webhooks.poll_interval_s)
    engine.dispose()


def notify() -> None:
    """Deliver webhook notifications until SIGTERM (several may run side by side)."""
    from workers.invocation import settings as load
    from workers.metrics_server import serve_metrics
    from workers.shutdown import stop_event_on_signals

    config = load()
    open_database(config.database).dispose()  # fail fast: unreachable, or no schema
    serve_metrics(config.metrics_host, config.metrics_port, (alert_metrics.NOTIFIER,))
    run_notifier(config, stop_event_on_signals())
