"""Acceptance: signed deliveries survive a flaky receiver; 410 stops at once; rotation overlaps."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from pipeline.clock import WallClock
from pipeline.delivery.endpoints import add_endpoint, rotate_secret
from pipeline.delivery.notifier import deliver_due
from pipeline.delivery.webhooks import new_secret
from pipeline.settings import Settings, load_settings
from pipeline.storage.alert_tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import upgrade
from tests.integration.alert_fixtures import (
    Receiver,
    open_alert,
    queue_notifications,
    run_receiver,
)

NOTIFICATIONS = 8


@pytest.fixture
def settings(pg_url: str) -> Settings:
    upgrade(pg_url)
    return load_settings(
        database={"url": pg_url},
        webhooks={
            "allow_private_targets": True, "timeout_s": 0.3, "backoff_base_s": 0.02,
            "backoff_max_s": 0.1, "claim_batch": 4,
        },
    )


@pytest.fixture
def engine(settings: Settings) -> Engine:
    return make_engine(settings.database)


def flaky(n: int) -> tuple[int, float]:
    """Half the requests fail: a 500, then a stall past the sender's timeout."""
    return [(500, 0.0), (200, 0.0), (200, 0.6), (204, 0.0)][n % 4]


def drain(engine: Engine, settings: Settings, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    with httpx.Client() as client:
        while time.monotonic() < deadline:
            deliver_due(engine, settings.webhooks, WallClock(), client)
            with engine.connect() as conn:
                left = conn.execute(
                    select(func.count()).where(WebhookDeliveryRow.status == "pending")
                ).scalar_one()
            if not left:
                return
            time.sleep(0.02)
    raise AssertionError("deliveries still pending")


def test_flaky_receiver_gets_every_notification_once_per_id(
    engine: Engine, settings: Settings
) -> None:
    now = datetime.now(UTC)
    secret = new_secret()
    with run_receiver(Receiver([secret], answer=flaky)) as receiver:
        add_endpoint(engine, settings.webhooks, "flaky", receiver.url, now, secret=secret)
        queue_notifications(engine, open_alert(engine, "ticker:ACME", now), NOTIFICATIONS, now)
        drain(engine, settings)

    with Session(engine) as session:
        deliveries = session.scalars(select(WebhookDeliveryRow)).all()
        attempts = session.scalars(select(WebhookAttemptRow)).all()
    assert len(deliveries) == NOTIFICATIONS
    assert all(d.status == "delivered" for d in deliveries)
    ids = {d.webhook_id for d in deliveries}
    assert {r.webhook_id for r in receiver.delivered()} == ids
    assert len(ids) == NOTIFICATIONS
    requests_per_id = Counter(r.webhook_id for r in receiver.requests)
    assert set(requests_per_id) == ids, "every retry carries its notification's webhook-id"
    assert max(requests_per_id.values()) > 1, "the receiver really did fail some"
    by_delivery = Counter(a.delivery_id for a in attempts)
    assert {d.webhook_id: by_delivery[d.id] for d in deliveries} == dict(requests_per_id)
    assert {d.webhook_id: d.attempts for d in deliveries} == dict(requests_per_id)
    outcomes = Counter(a.outcome for a in attempts)
    failed_requests = sum(1 for r in receiver.requests if r.status >= 500 or r.stalled)
    assert outcomes == {"delivered": NOTIFICATIONS, "retry": failed_requests}
    assert all(r.verified_by == (0,) for r in receiver.requests)


def test_gone_receiver_fails_at_once_without_retries(engine: Engine, settings: Settings) -> None:
    now = datetime.now(UTC)
    secret = new_secret()
    with run_receiver(Receiver([secret], answer=lambda n: (410, 0.0))) as receiver:
        add_endpoint(engine, settings.webhooks, "gone", receiver.url, now, secret=secret)
        queue_notifications(engine, open_alert(engine, "market", now), 3, now)
        drain(engine, settings)
        for _ in range(3):
            with httpx.Client() as client:
                assert deliver_due(engine, settings.webhooks, WallClock(), client).claimed == 0

    assert len(receiver.requests) == 1, "no retry storm: one POST, then the endpoint is off"
    with Session(engine) as session:
        deliveries = session.scalars(select(WebhookDeliveryRow)).all()
        endpoint = session.scalars(select(WebhookEndpointRow)).one()
        attempt_rows = session.scalar(select(func.count()).select_from(WebhookAttemptRow))
    assert [d.status for d in deliveries] == ["failed"] * 3
    assert attempt_rows == 1
    assert not endpoint.enabled
    assert endpoint.disabled_reason is not None
    assert "410" in endpoint.disabled_reason


def test_rotated_secret_both_signatures_during_overlap(
    engine: Engine, settings: Settings
) -> None:
    now = datetime.now(UTC)
    old = new_secret()
    with run_receiver(Receiver([old])) as receiver:
        add_endpoint(engine, settings.webhooks, "rotating", receiver.url, now, secret=old)
        fresh = rotate_secret(engine, settings.webhooks, "rotating", now)
        receiver.secrets.append(fresh)
        alert = open_alert(engine, "topic:Macro", now)
        queue_notifications(engine, alert, 1, now)
        drain(engine, settings)
        assert [r.verified_by for r in receiver.requests] == [(0, 1)], "either secret verifies"

        with engine.begin() as conn:
            conn.execute(update(WebhookEndpointRow).values(previous_secret_until=now))
        queue_notifications(engine, alert, 1, now)
        drain(engine, settings)
    assert [r.verified_by for r in receiver.requests] == [(0, 1), (1,)], "overlap over: new only"
    signatures = receiver.requests[0].headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
