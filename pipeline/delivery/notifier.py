"""Deliver due notifications: claim (SKIP LOCKED), sign, POST, record the attempt, reschedule.

A claim moves `next_attempt_at` past the attempt's timeout, so a notifier that dies
mid-POST leaves a delivery that another one picks up later; no lock is held over HTTP.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, func, insert, select, update

from pipeline import alert_metrics
from pipeline.clock import Clock
from pipeline.delivery.webhooks import (
    check_target,
    encode_body,
    is_final_status,
    redact_text,
    redact_url,
    retry_delay,
    sign_headers,
)
from pipeline.errors import ConfigError
from pipeline.settings import WebhookSettings
from pipeline.storage.alert_tables import (
    AlertEventRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)
from pipeline.storage.db import is_postgres

log = logging.getLogger(__name__)
D = WebhookDeliveryRow
LEASE_MARGIN_S = 30.0


@dataclass(frozen=True)
class Claimed:
    id: int
    webhook_id: str
    attempt: int
    created_at: datetime
    payload: dict[str, Any]
    endpoint_id: int
    url: str
    enabled: bool
    body_format: str
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Outcome:
    result: str  # delivered | retry | failed
    status_code: int | None
    error: str | None
    duration_ms: float
    retry_after_s: float | None = None
    posted: bool = True


@dataclass(frozen=True)
class DeliveryReport:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    failed: int = 0


def deliver_due(
    engine: Engine,
    webhooks: WebhookSettings,
    clock: Clock,
    http_client: httpx.Client,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Claim up to `claim_batch` due deliveries and try each once."""
    chance = rng or random.Random()
    claimed = claim_due_deliveries(engine, webhooks, clock.now())
    tally = {"delivered": 0, "retry": 0, "failed": 0}
    gone: set[int] = set()  # endpoints that answered 410 in this batch get no more POSTs
    for delivery in claimed:
        if delivery.endpoint_id in gone:
            delivery = replace(delivery, enabled=False)
        outcome = attempt(delivery, webhooks, clock, http_client)
        if outcome.status_code == 410:
            gone.add(delivery.endpoint_id)
        now = clock.now()
        state = record_outcome(engine, webhooks, delivery, outcome, now, chance)
        log_outcome(delivery, outcome, state, now)
        tally[outcome.result] += 1
        alert_metrics.ATTEMPTS.labels(outcome.result).inc()
    update_backlog_metrics(engine, clock.now())
    return DeliveryReport(len(claimed), tally["delivered"], tally["retry"], tally["failed"])


def claim_due_deliveries(engine: Engine, webhooks: WebhookSettings, now: datetime) -> list[Claimed]:
    """Due pending deliveries, leased to this notifier by moving their next attempt time."""
    lease = now + timedelta(seconds=webhooks.timeout_s + LEASE_MARGIN_S)
    with engine.begin() as conn:
        due = (
            select(D.id)
            .where(D.status == "pending", D.next_attempt_at <= now)
            .order_by(D.next_attempt_at, D.id)
            .limit(webhooks.claim_batch)
        )
        if is_postgres(engine):
            due = due.with_for_update(skip_locked=True)
        ids = list(conn.execute(due).scalars())
        if not ids:
            return []
        conn.execute(
            update(D).where(D.id.in_(ids)).values(next_attempt_at=lease, attempts=D.attempts + 1)
        )
        return _load_claimed(conn, ids, now)


def _load_claimed(conn: Connection, ids: Sequence[int], now: datetime) -> list[Claimed]:
    E = WebhookEndpointRow  # noqa: N806 - a table alias
    rows = conn.execute(
        select(
            D.id, D.webhook_id, D.attempts, D.created_at, AlertEventRow.payload,
            E.id.label("endpoint_id"), E.url, E.enabled, E.body_format, E.secret,
            E.previous_secret, E.previous_secret_until,
        )
        .join(AlertEventRow, AlertEventRow.id == D.event_id)
        .join(E, E.id == D.endpoint_id)
        .where(D.id.in_(ids))
        .order_by(D.next_attempt_at, D.id)
    ).mappings()
    return [_claimed(row, now) for row in rows]


def _claimed(row: Any, now: datetime) -> Claimed:
    until = row["previous_secret_until"]
    overlap = row["previous_secret"] and until is not None and until > now
    keys = (row["secret"], row["previous_secret"]) if overlap else (row["secret"],)
    return Claimed(
        row["id"], row["webhook_id"], row["attempts"], row["created_at"], row["payload"],
        row["endpoint_id"], row["url"], row["enabled"], row["body_format"], keys,
    )


def attempt(
    delivery: Claimed, webhooks: WebhookSettings, clock: Clock, client: httpx.Client
) -> Outcome:
    """One POST; never raises for what a receiver or the network does."""
    if not delivery.enabled:
        return Outcome("failed", None, "endpoint disabled", 0.0, posted=False)
    try:
        check_target(delivery.url, webhooks)
    except ConfigError as e:
        return Outcome("failed", None, str(e), 0.0, posted=False)
    body = encode_body(delivery.payload, delivery.body_format)
    headers = sign_headers(delivery.webhook_id, body, clock.now(), delivery.secrets)
    started = time.perf_counter()
    try:
        response = client.post(
            delivery.url, content=body, headers=headers, timeout=webhooks.timeout_s
        )
    except httpx.HTTPError as e:
        return Outcome("retry", None, f"{type(e).__name__}: {e}", _ms(started))
    return _judge(response, _ms(started))


def _judge(response: httpx.Response, duration_ms: float) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        return Outcome("delivered", status, None, duration_ms)
    error = f"HTTP {status}"
    if is_final_status(status):
        return Outcome("failed", status, error, duration_ms)
    return Outcome("retry", status, error, duration_ms, _retry_after(response))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def record_outcome(
    engine: Engine,
    webhooks: WebhookSettings,
    delivery: Claimed,
    outcome: Outcome,
    now: datetime,
    rng: random.Random,
) -> dict[str, Any]:
    """Write the attempt and the delivery's next state in one transaction; that state."""
    values = _next_state(webhooks, delivery, outcome, now, rng)
    with engine.begin() as conn:
        if outcome.posted:
            conn.execute(
                insert(WebhookAttemptRow).values(
                    delivery_id=delivery.id, attempt=delivery.attempt, attempted_at=now,
                    duration_ms=outcome.duration_ms, status_code=outcome.status_code,
                    outcome=outcome.result, error=outcome.error,
                )
            )
        else:
            values["attempts"] = delivery.attempt - 1
        conn.execute(update(D).where(D.id == delivery.id).values(values))
        if outcome.status_code == 410:
            _disable_gone(conn, delivery.endpoint_id)
    return values


def log_outcome(
    delivery: Claimed, outcome: Outcome, state: dict[str, Any], now: datetime
) -> None:
    """One line per attempt: the webhook-id (the receiver's idempotency key), never a secret."""
    status = outcome.status_code if outcome.status_code is not None else "-"
    common = (delivery.webhook_id, delivery.attempt, status, outcome.duration_ms)
    where = redact_url(delivery.url)
    if state["status"] == "delivered":
        log.info("webhook delivered: webhook-id %s, attempt %d, status %s, %.0f ms, to %s",
                 *common, where)
    elif state["status"] == "pending":
        wait = (state["next_attempt_at"] - now).total_seconds()
        log.info("webhook retry in %.0f s: webhook-id %s, attempt %d, status %s, %.0f ms, "
                 "to %s: %s", wait, *common, where, redact_text(outcome.error or ""))
    else:
        log.info("webhook failed for good: webhook-id %s, attempt %d, status %s, %.0f ms, "
                 "to %s: %s", *common, where, redact_text(state.get("last_error") or ""))


def _next_state(
    webhooks: WebhookSettings,
    delivery: Claimed,
    outcome: Outcome,
    now: datetime,
    rng: random.Random,
) -> dict[str, Any]:
    if outcome.result == "delivered":
        return {"status": "delivered", "delivered_at": now, "last_error": None}
    if outcome.result == "failed":
        return {"status": "failed", "last_error": outcome.error}
    delay = retry_delay(delivery.attempt, webhooks, rng)
    delay = max(delay, outcome.retry_after_s or 0.0)
    horizon = delivery.created_at + timedelta(seconds=webhooks.retry_horizon_s)
    if now + timedelta(seconds=delay) > horizon:
        return {"status": "failed", "last_error": f"{outcome.error}; retry horizon reached"}
    return {
        "status": "pending", "last_error": outcome.error,
        "next_attempt_at": now + timedelta(seconds=delay),
    }


def _disable_gone(conn: Connection, endpoint_id: int) -> None:
    """410 Gone: the receiver asked never to be called again; its queue is dropped too."""
    conn.execute(
        update(WebhookEndpointRow)
        .where(WebhookEndpointRow.id == endpoint_id)
        .values(enabled=False, disabled_reason="receiver answered 410 Gone")
    )
    conn.execute(
        update(D)
        .where(D.endpoint_id == endpoint_id, D.status == "pending")
        .values(status="failed", last_error="endpoint disabled after 410 Gone")
    )


def redeliver(engine: Engine, alert_id: int, now: datetime, *, everything: bool = False) -> int:
    """Queue an alert's failed (or all) notifications again, keeping their webhook-ids."""
    states = ("failed", "silenced", "delivered") if everything else ("failed", "silenced")
    with engine.begin() as conn:
        return conn.execute(
            update(D)
            .where(D.alert_id == alert_id, D.status.in_(states))
            .values(status="pending", next_attempt_at=now, last_error=None)
        ).rowcount


def update_backlog_metrics(engine: Engine, now: datetime) -> None:
    with engine.connect() as conn:
        pending, oldest = conn.execute(
            select(func.count(), func.min(D.next_attempt_at)).where(D.status == "pending")
        ).one()
    alert_metrics.OUTBOX_BACKLOG.set(pending)
    age = (now - oldest).total_seconds() if oldest is not None and oldest <= now else 0.0
    alert_metrics.OLDEST_DUE_SECONDS.set(age)
