"""Prometheus metrics of the scheduler and the notifier (exported by their workers)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STEP_SECONDS = Histogram(
    "finsent_scheduler_step_seconds",
    "Time to compute one scheduler step (windows, detection, lifecycle)",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
STEPS = Counter("finsent_scheduler_steps_total", "Scheduler steps computed by this process")
LEADER = Gauge("finsent_scheduler_leader", "1 while this process holds the scheduler lock")
OPEN_ALERTS = Gauge("finsent_alerts_open", "Alerts pending or firing", ["state"])
OUTBOX_BACKLOG = Gauge("finsent_webhook_backlog", "Deliveries pending (due or scheduled)")
OLDEST_DUE_SECONDS = Gauge(
    "finsent_webhook_oldest_due_seconds", "Age of the oldest due, undelivered notification"
)
ATTEMPTS = Counter("finsent_webhook_attempts_total", "Webhook POSTs by outcome", ["outcome"])
