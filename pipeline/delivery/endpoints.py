"""Webhook endpoints: add, list, disable, rotate the signing secret (with an overlap)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.alerting.outbox import DEFAULT_EVENT_TYPES, SEVERITY_RANK
from pipeline.delivery.webhooks import Resolver, check_target, new_secret
from pipeline.errors import ConfigError
from pipeline.scope import ALL_KINDS
from pipeline.settings import WebhookSettings
from pipeline.storage.alert_tables import WebhookEndpointRow

EVENT_TYPES = ("alert.pending", "alert.firing", "alert.repeat", "alert.resolved", "alert.cancelled")
BODY_FORMATS = ("standard", "slack")


@dataclass(frozen=True)
class Endpoint:
    id: int
    name: str
    url: str
    enabled: bool
    scope_kinds: tuple[str, ...]
    event_types: tuple[str, ...]
    min_severity: str
    body_format: str
    previous_secret_until: datetime | None
    disabled_reason: str | None


def add_endpoint(
    engine: Engine,
    settings: WebhookSettings,
    name: str,
    url: str,
    now: datetime,
    *,
    scope_kinds: Sequence[str] = (),
    event_types: Sequence[str] = DEFAULT_EVENT_TYPES,
    min_severity: str = "warning",
    body_format: str = "standard",
    secret: str | None = None,
    resolve: Resolver | None = None,
) -> str:
    """Register an endpoint and return its signing secret (shown once)."""
    _validate(scope_kinds, event_types, min_severity, body_format)
    check_target(url, settings, resolve)
    chosen = secret or new_secret()
    values = {
        "name": name, "url": url, "secret": chosen, "enabled": True,
        "scope_kinds": list(scope_kinds), "event_types": list(event_types),
        "min_severity": min_severity, "body_format": body_format, "created_at": now,
    }
    try:
        with engine.begin() as conn:
            conn.execute(insert(WebhookEndpointRow).values(values))
    except IntegrityError as e:
        raise ConfigError(f"an endpoint named {name!r} already exists") from e
    return chosen


def list_endpoints(engine: Engine) -> list[Endpoint]:
    with Session(engine) as session:
        rows = session.scalars(select(WebhookEndpointRow).order_by(WebhookEndpointRow.id))
        return [_endpoint(row) for row in rows]


def disable_endpoint(engine: Engine, name: str, reason: str = "disabled by operator") -> None:
    with engine.begin() as conn:
        done = conn.execute(
            update(WebhookEndpointRow)
            .where(WebhookEndpointRow.name == name)
            .values(enabled=False, disabled_reason=reason)
        ).rowcount
    if not done:
        raise ConfigError(f"no endpoint named {name!r}")


def rotate_secret(
    engine: Engine, settings: WebhookSettings, name: str, now: datetime
) -> str:
    """A new secret; the old one keeps signing too for `secret_overlap_s`."""
    fresh = new_secret()
    with engine.begin() as conn:
        current = conn.execute(
            select(WebhookEndpointRow.secret).where(WebhookEndpointRow.name == name)
        ).scalar_one_or_none()
        if current is None:
            raise ConfigError(f"no endpoint named {name!r}")
        conn.execute(
            update(WebhookEndpointRow)
            .where(WebhookEndpointRow.name == name)
            .values(
                secret=fresh,
                previous_secret=current,
                previous_secret_until=now + timedelta(seconds=settings.secret_overlap_s),
            )
        )
    return fresh


def _validate(
    scope_kinds: Sequence[str], event_types: Sequence[str], min_severity: str, body_format: str
) -> None:
    unknown = [k for k in scope_kinds if k not in ALL_KINDS]
    if unknown:
        raise ConfigError(f"unknown scope kinds {unknown}; use {', '.join(ALL_KINDS)}")
    bad_types = [t for t in event_types if t not in EVENT_TYPES]
    if bad_types or not event_types:
        raise ConfigError(f"event types must be among {', '.join(EVENT_TYPES)}")
    if min_severity not in SEVERITY_RANK:
        raise ConfigError(f"min severity must be one of {', '.join(SEVERITY_RANK)}")
    if body_format not in BODY_FORMATS:
        raise ConfigError(f"body format must be one of {', '.join(BODY_FORMATS)}")


def _endpoint(row: WebhookEndpointRow) -> Endpoint:
    return Endpoint(
        row.id, row.name, row.url, row.enabled, tuple(row.scope_kinds), tuple(row.event_types),
        row.min_severity, row.body_format, row.previous_secret_until, row.disabled_reason,
    )
