"""The alert outbox: an event row per state change, fanned out to matching endpoints.

Both are written in the caller's transaction, so a state change and its notifications
commit together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from pipeline.storage.alert_tables import (
    AlertEventRow,
    AlertRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)
from schemas.alerts import Alert
from schemas.webhooks import AlertNotification

SEVERITY_RANK = {"warning": 1, "critical": 2}
DEFAULT_EVENT_TYPES = ("alert.firing", "alert.repeat", "alert.resolved")


@dataclass(frozen=True)
class EndpointFilter:
    id: int
    scope_kinds: tuple[str, ...]
    event_types: tuple[str, ...]
    min_severity: str

    def wants(self, event_type: str, scope_kind: str, severity: str) -> bool:
        if event_type not in self.event_types:
            return False
        if self.scope_kinds and scope_kind not in self.scope_kinds:
            return False
        return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(self.min_severity, 0)


@dataclass(frozen=True)
class OutboxAlert:
    """What the outbox reads of an alert row: its public form and whether it is silenced."""

    alert: Alert
    silenced_until: datetime | None = None

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> OutboxAlert:
        return cls(alert_of(row), row.get("silenced_until"))

    @classmethod
    def read(cls, conn: Connection, alert_id: int) -> OutboxAlert:
        table = AlertRow.__table__
        row = conn.execute(select(table).where(table.c.id == alert_id)).mappings().one()
        return cls.of_row(dict(row))

    def silenced_at(self, now: datetime) -> bool:
        return self.silenced_until is not None and self.silenced_until > now


def alert_of(row: Mapping[str, Any]) -> Alert:
    """An alert row (or the values written to one) in its public form, validated."""
    return Alert.model_validate({name: row[name] for name in Alert.model_fields})


def notification_payload(alert: Alert, event_type: str, now: datetime) -> dict[str, Any]:
    """The JSON body of one notification, validated against the public schema."""
    envelope = AlertNotification.model_validate(
        {"type": event_type, "timestamp": now, "data": alert}
    )
    return envelope.model_dump(mode="json")


def enabled_endpoints(conn: Connection) -> list[EndpointFilter]:
    rows = conn.execute(
        select(
            WebhookEndpointRow.id, WebhookEndpointRow.scope_kinds,
            WebhookEndpointRow.event_types, WebhookEndpointRow.min_severity,
        ).where(WebhookEndpointRow.enabled.is_(True))
    )
    return [EndpointFilter(i, tuple(kinds), tuple(types), sev) for i, kinds, types, sev in rows]


def new_webhook_id() -> str:
    """The idempotency key a receiver sees on every retry of one notification."""
    return f"msg_{uuid.uuid4().hex}"


def record_event(
    conn: Connection,
    stored: OutboxAlert,
    event_type: str,
    now: datetime,
    endpoints: Sequence[EndpointFilter],
) -> int:
    """Write the outbox row (the notification body) and one delivery per interested endpoint;
    returns deliveries."""
    alert = stored.alert
    payload = notification_payload(alert, event_type, now)
    event_id = conn.execute(
        insert(AlertEventRow)
        .values(alert_id=alert.id, event_type=event_type, created_at=now, payload=payload)
        .returning(AlertEventRow.id)
    ).scalar_one()
    status = "silenced" if stored.silenced_at(now) else "pending"
    rows = [
        {
            "webhook_id": new_webhook_id(), "event_id": event_id, "alert_id": alert.id,
            "endpoint_id": endpoint.id, "event_type": event_type, "status": status,
            "attempts": 0, "created_at": now, "next_attempt_at": now,
        }
        for endpoint in endpoints
        if endpoint.wants(event_type, alert.scope_kind, alert.severity)
    ]
    if rows:
        conn.execute(insert(WebhookDeliveryRow), rows)
    return len(rows)
