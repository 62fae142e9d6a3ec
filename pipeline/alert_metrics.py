"""Prometheus metrics of the scheduler and the notifier, each in the registry of its worker.

A process serves only the registries it owns (`workers.metrics_server.serve_metrics`), so the
API and the classifier, which import these modules, never export gauges they do not compute.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SCHEDULER = CollectorRegistry(auto_describe=True)
NOTIFIER = CollectorRegistry(auto_describe=True)

STEP_SECONDS = Histogram(
    "finsent_scheduler_step_seconds",
    "Time to compute one scheduler step (windows, detection, lifecycle)",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
    registry=SCHEDULER,
)
STEPS = Counter(
    "finsent_scheduler_steps_total", "Scheduler steps computed by this process", registry=SCHEDULER
)
LEADER = Gauge(
    "finsent_scheduler_leader", "1 while this process holds the scheduler lock", registry=SCHEDULER
)
UNSCORED_ITEMS = Gauge(
    "finsent_scheduler_unscored_items",
    "Items the spike rule reads that lack a row of the current model version",
    registry=SCHEDULER,
)
OPEN_ALERTS = Gauge(
    "finsent_alerts_open", "Alerts pending or firing", ["state"], registry=SCHEDULER
)
OUTBOX_BACKLOG = Gauge(
    "finsent_webhook_backlog", "Deliveries pending (due or scheduled)", registry=NOTIFIER
)
OLDEST_DUE_SECONDS = Gauge(
    "finsent_webhook_oldest_due_seconds",
    "Age of the oldest due, undelivered notification",
    registry=NOTIFIER,
)
ATTEMPTS = Counter(
    "finsent_webhook_attempts_total", "Webhook POSTs by outcome", ["outcome"], registry=NOTIFIER
)
