"""The alert rows: a step's planned changes written in its transaction, each state change
with its outbox event; and the reads and silences of `finsent alerts`.

Explanations come in as data, built by the step for the changes that carry one
(`Planned.needs_explanation`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pipeline.alerting.lifecycle import Change, OpenAlert, Planned
from pipeline.alerting.outbox import EndpointFilter, OutboxAlert, enabled_endpoints, record_event
from pipeline.alerting.rules import Rule
from pipeline.alerting.verdicts import Judged
from pipeline.storage.alert_tables import AlertRow, WebhookDeliveryRow
from schemas.alerts import Explanation

log = logging.getLogger(__name__)


def write_changes(
    conn: Connection,
    rule: Rule,
    planned: Sequence[Planned],
    explanations: Mapping[str, Explanation],
    now: datetime,
) -> int:
    """Write each planned change and its outbox rows; returns the number of state changes.

    `explanations` holds one for every change that `needs_explanation`."""
    endpoints: list[EndpointFilter] | None = None
    changes = 0
    for item in planned:
        if item.change.event is not None and endpoints is None:
            endpoints = enabled_endpoints(conn)
        alert_id = _write(conn, rule, item, explanations.get(item.scope), now, endpoints or [])
        if item.is_transition:
            changes += 1
            _log_transition(alert_id, rule, item)
    return changes


def _log_transition(alert_id: int, rule: Rule, item: Planned) -> None:
    verdict = item.judged.verdict if item.judged is not None else None
    log.info(
        "alert %d %s -> %s: rule %s, scope %s, value %s, baseline %s, z %s",
        alert_id,
        item.alert.state if item.alert is not None else "new",
        item.change.state,
        rule.name,
        item.scope,
        _number(verdict.value if verdict else None),
        _number(verdict.median if verdict else None),
        _number(verdict.z if verdict else None),
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _write(
    conn: Connection,
    rule: Rule,
    item: Planned,
    explanation: Explanation | None,
    now: datetime,
    endpoints: Sequence[EndpointFilter],
) -> int:
    alert, change, spike = item.alert, item.change, item.spike
    values = _state_values(change, alert, now)
    if item.needs_explanation:
        assert spike is not None
        assert explanation is not None, f"no explanation for {item.scope}"
        values.update(_evidence(spike, explanation))
    if alert is None:
        assert spike is not None
        values.update(rule=rule.name, scope=item.scope, scope_kind=spike.kind, opened_at=now)
        alert_id = conn.execute(insert(AlertRow).values(values).returning(AlertRow.id)).scalar_one()
    else:
        alert_id = alert.id
        conn.execute(update(AlertRow).where(AlertRow.id == alert_id).values(values))
    if change.event is not None:
        _notify(conn, alert_id, change.event, now, endpoints)
    return alert_id


def _state_values(change: Change, alert: OpenAlert | None, now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {
        "state": change.state, "held_steps": change.held_steps,
        "clear_steps": change.clear_steps, "updated_at": now,
    }
    if change.state == "firing" and (alert is None or alert.state == "pending"):
        values["fired_at"] = now
    if change.state in ("resolved", "cancelled"):
        values["resolved_at"] = now
    if change.event in ("alert.firing", "alert.repeat", "alert.resolved"):
        values["last_notified_at"] = now
    return values


def _evidence(item: Judged, explanation: Explanation) -> dict[str, Any]:
    verdict = item.verdict
    return {
        "severity": verdict.severity or "warning",
        "window_start": item.window[0], "window_end": item.window[1],
        "value": verdict.value, "baseline": verdict.median, "z": verdict.z,
        "explanation": explanation.model_dump(mode="json"),
    }


def _notify(
    conn: Connection, alert_id: int, event: str, now: datetime, endpoints: Sequence[EndpointFilter]
) -> None:
    record_event(conn, OutboxAlert.read(conn, alert_id), event, now, endpoints)


def get_alert(conn: Connection, alert_id: int) -> dict[str, Any] | None:
    """Every column of one alert (`finsent alerts show`)."""
    table = AlertRow.__table__
    row = conn.execute(select(table).where(table.c.id == alert_id)).mappings().one_or_none()
    return None if row is None else dict(row)


def silence_alert(conn: Connection, alert_id: int, until: datetime) -> int:
    """Hold back this alert's notifications until `until`; queued ones are held back too."""
    found = conn.execute(
        update(AlertRow).where(AlertRow.id == alert_id).values(silenced_until=until)
    ).rowcount
    conn.execute(
        update(WebhookDeliveryRow)
        .where(WebhookDeliveryRow.alert_id == alert_id, WebhookDeliveryRow.status == "pending")
        .values(status="silenced")
    )
    return found
