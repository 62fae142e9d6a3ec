"""Alert tables: alerts and their outbox of events, webhook endpoints, deliveries, attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from pipeline.storage.tables import Base
from pipeline.storage.trend_tables import UtcDateTime

OPEN_STATES = ("pending", "firing")
_OPEN_WHERE = text("state IN ('pending', 'firing')")


class AlertRow(Base):
    """One alert of one rule on one scope; at most one is open (pending|firing) per pair."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(80))
    scope_kind: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(12), doc="pending|firing|resolved|cancelled")
    severity: Mapped[str] = mapped_column(String(10))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    held_steps: Mapped[int] = mapped_column(Integer, default=0, doc="consecutive true steps")
    clear_steps: Mapped[int] = mapped_column(Integer, default=0, doc="consecutive false steps")
    silenced_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    window_end: Mapped[datetime] = mapped_column(UtcDateTime)
    value: Mapped[float] = mapped_column(Float, doc="negative share that fired")
    baseline: Mapped[float] = mapped_column(Float, doc="baseline median")
    z: Mapped[float] = mapped_column(Float)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index(
            "uq_alerts_open_rule_scope",
            "rule",
            "scope",
            unique=True,
            postgresql_where=_OPEN_WHERE,
            sqlite_where=_OPEN_WHERE,
        ),
        Index("ix_alerts_state", "state"),
        Index("ix_alerts_opened_at", "opened_at"),
    )


class AlertEventRow(Base):
    """The outbox: one row per state change, written in the transaction of the change."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class WebhookEndpointRow(Base):
    """A receiver of notifications, with its signing secret(s) and filters."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(200))
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    scope_kinds: Mapped[list[str]] = mapped_column(JSON, doc="empty = every kind")
    event_types: Mapped[list[str]] = mapped_column(JSON)
    min_severity: Mapped[str] = mapped_column(String(10), default="warning")
    body_format: Mapped[str] = mapped_column(String(10), default="standard", doc="or slack")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class WebhookDeliveryRow(Base):
    """One notification to one endpoint; its webhook_id is the same on every retry."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("alert_events.id", ondelete="CASCADE"))
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(12), doc="pending|delivered|failed|silenced")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)


class WebhookAttemptRow(Base):
    """Every POST the notifier made, whatever came of it."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempt: Mapped[int] = mapped_column(Integer)
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(12), doc="delivered|retry|failed")
    error: Mapped[str | None] = mapped_column(Text)
