"""`finsent worker schedule`: APScheduler runs a step every S seconds while leader.

Any number may run; the Postgres advisory lock picks the leader, re-checked every tick,
and the step table lets a new leader continue where the old one stopped.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, func, select

from pipeline import alert_metrics
from pipeline.alerting.leader import LeaderLock
from pipeline.alerting.maintenance import apply_retention, prepare_partitions
from pipeline.alerting.model_switch import CoverageGuard
from pipeline.alerting.rules import load_rules
from pipeline.alerting.scheduling import AlertScheduler
from pipeline.alerting.trends import ceil_to
from pipeline.boundary import log_failure
from pipeline.clock import Clock, WallClock
from pipeline.settings import Settings
from pipeline.storage.alert_tables import OPEN_STATES, AlertRow
from pipeline.storage.db import make_engine, open_database

log = logging.getLogger(__name__)
TICK_OFFSET_S = 0.2  # run just after each grid point, so its step is due
MAINTENANCE_EVERY_S = 3600


def run_scheduler(settings: Settings, stop: threading.Event, clock: Clock | None = None) -> None:
    """Tick every step until `stop` is set; only the leader computes."""
    engine = make_engine(settings.database)
    steps = AlertScheduler(settings, load_rules(settings.alerts))
    lock = LeaderLock(engine)
    wall = clock or WallClock()
    guard = CoverageGuard()
    scheduler = build_scheduler(settings, lambda: tick(engine, settings, steps, lock, wall, guard))
    scheduler.add_job(
        lambda: maintain(engine, settings, lock, wall), IntervalTrigger(seconds=MAINTENANCE_EVERY_S)
    )
    scheduler.start()
    log.info("scheduler started: step %ss", settings.trends.step_s)
    try:
        stop.wait()
    finally:
        scheduler.shutdown(wait=True)
        lock.release()
        engine.dispose()


def build_scheduler(settings: Settings, job: object) -> BackgroundScheduler:
    """In-memory job store; coalesced, one instance at a time, a step's worth of grace."""
    step = settings.trends.step_s
    scheduler = BackgroundScheduler(
        timezone=UTC,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": step},
    )
    first = ceil_to(datetime.now(UTC), step) + timedelta(seconds=TICK_OFFSET_S)
    scheduler.add_job(job, IntervalTrigger(seconds=step, start_date=first), id="step")
    return scheduler


def tick(
    engine: Engine,
    settings: Settings,
    steps: AlertScheduler,
    lock: LeaderLock,
    clock: Clock,
    guard: CoverageGuard,
) -> None:
    if not lock.ensure():
        return
    try:
        guard.check(engine, settings, steps.rules, clock.now())
        report = steps.run(engine, clock, max_steps=_catch_up_limit(settings))
        _alert_gauges(engine)
    except Exception as e:  # retried at the next tick; the process stays up
        log_failure(log, "scheduler step failed", e)
        return
    if report.steps:
        log.debug(
            "steps %s: %d windows, %d changes", len(report.steps), report.windows, report.changes
        )


def _catch_up_limit(settings: Settings) -> int:
    """Bound one tick's catch-up so the lock is re-checked at least every ~minute of work."""
    return max(1, 60 // settings.trends.step_s) + 1


def _alert_gauges(engine: Engine) -> None:
    with engine.connect() as conn:
        rows = conn.execute(
            select(AlertRow.state, func.count())
            .where(AlertRow.state.in_(OPEN_STATES))
            .group_by(AlertRow.state)
        ).all()
    counts = dict.fromkeys(OPEN_STATES, 0) | {state: n for state, n in rows}
    for state, n in counts.items():
        alert_metrics.OPEN_ALERTS.labels(state).set(n)


def maintain(engine: Engine, settings: Settings, lock: LeaderLock, clock: Clock) -> None:
    if not lock.ensure():
        return
    try:
        prepare_partitions(engine)
        removed = apply_retention(engine, settings.retention, clock.now())
    except Exception as e:  # retention is retried in an hour
        log_failure(log, "maintenance failed", e)
        return
    log.info("retention removed %s", removed)


def schedule() -> None:
    """Run the trend/alert scheduler until SIGTERM (any number may run; one leads)."""
    from workers.invocation import settings as load
    from workers.metrics_server import serve_metrics
    from workers.shutdown import stop_event_on_signals

    config = load()
    open_database(config.database).dispose()  # fail fast: unreachable, or no schema
    serve_metrics(config.metrics_host, config.metrics_port, (alert_metrics.SCHEDULER,))
    run_scheduler(config, stop_event_on_signals())
