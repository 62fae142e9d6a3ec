"""The alert lifecycle: pending -> firing -> resolved, one open alert per (rule, scope).

`advance` is the pure transition; `apply_verdicts` runs it for one step inside the step's
transaction and writes each state change with its outbox row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from pipeline.alerting.detection import Verdict
from pipeline.alerting.outbox import (
    EndpointFilter,
    enabled_endpoints,
    notification_payload,
    record_event,
)
from pipeline.alerting.rules import Rule
from pipeline.storage.alert_tables import OPEN_STATES, AlertRow, WebhookDeliveryRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenAlert:
    """What the lifecycle needs to know about an alert that is pending or firing."""

    id: int
    state: str
    held_steps: int
    clear_steps: int
    last_notified_at: datetime | None


@dataclass(frozen=True)
class Change:
    state: str
    held_steps: int
    clear_steps: int
    event: str | None


@dataclass(frozen=True)
class Judged:
    """One scope's verdict at a step, with the window it judged."""

    scope: str
    kind: str
    verdict: Verdict
    window: tuple[datetime, datetime]


# Builds an alert's explanation for a judged scope (top items come from the database).
ExplainFn = Callable[[Connection, Rule, Judged], dict[str, Any]]


def advance(alert: OpenAlert | None, condition: bool, rule: Rule, now: datetime) -> Change | None:
    """The next state of one (rule, scope) after one step; None when nothing changes."""
    if alert is None:
        if not condition:
            return None
        state = "firing" if rule.hold_steps <= 1 else "pending"
        return Change(state, 1, 0, f"alert.{state}")
    if alert.state == "pending":
        if not condition:
            return Change("cancelled", alert.held_steps, 1, "alert.cancelled")
        held = alert.held_steps + 1
        fired = held >= rule.hold_steps
        return Change("firing" if fired else "pending", held, 0, "alert.firing" if fired else None)
    if condition:
        due = alert.last_notified_at is None or now - alert.last_notified_at >= timedelta(
            seconds=rule.repeat_every_s
        )
        return Change("firing", alert.held_steps + 1, 0, "alert.repeat" if due else None)
    cleared = alert.clear_steps + 1
    resolved = cleared >= rule.resolve_steps
    return Change("resolved" if resolved else "firing", 0, cleared, _resolved(resolved))


def _resolved(resolved: bool) -> str | None:
    return "alert.resolved" if resolved else None


def open_alerts(conn: Connection, rule: str) -> dict[str, OpenAlert]:
    rows = conn.execute(
        select(
            AlertRow.scope, AlertRow.id, AlertRow.state, AlertRow.held_steps,
            AlertRow.clear_steps, AlertRow.last_notified_at,
        ).where(AlertRow.rule == rule, AlertRow.state.in_(OPEN_STATES))
    )
    return {scope: OpenAlert(i, st, held, clear, last) for scope, i, st, held, clear, last in rows}


def apply_verdicts(
    conn: Connection,
    rule: Rule,
    judged: Mapping[str, Judged],
    now: datetime,
    explain: ExplainFn,
    muted: frozenset[str] = frozenset(),
) -> int:
    """Advance every scope with a verdict or an open alert; returns the number of state changes.

    Scopes of a `muted` kind (inhibited this step) keep their state.
    """
    current = open_alerts(conn, rule.name)
    endpoints: list[EndpointFilter] | None = None
    changes = 0
    for scope in sorted(set(judged) | set(current)):
        if scope.split(":", 1)[0] in muted:
            continue
        item = judged.get(scope)
        change = advance(current.get(scope), bool(item and item.verdict.condition), rule, now)
        if change is None:
            continue
        if change.event is not None and endpoints is None:
            endpoints = enabled_endpoints(conn)
        alert = current.get(scope)
        alert_id = _write(conn, rule, scope, alert, change, item, now, explain, endpoints or [])
        if alert is None or alert.state != change.state:
            changes += 1
            _log_transition(alert_id, rule, scope, alert, change, item)
    return changes


def _log_transition(
    alert_id: int,
    rule: Rule,
    scope: str,
    alert: OpenAlert | None,
    change: Change,
    item: Judged | None,
) -> None:
    verdict = item.verdict if item is not None else None
    log.info(
        "alert %d %s -> %s: rule %s, scope %s, value %s, baseline %s, z %s",
        alert_id,
        alert.state if alert is not None else "new",
        change.state,
        rule.name,
        scope,
        _number(verdict.value if verdict else None),
        _number(verdict.median if verdict else None),
        _number(verdict.z if verdict else None),
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _write(
    conn: Connection,
    rule: Rule,
    scope: str,
    alert: OpenAlert | None,
    change: Change,
    item: Judged | None,
    now: datetime,
    explain: ExplainFn,
    endpoints: Sequence[EndpointFilter],
) -> int:
    spike = item if item is not None and item.verdict.condition else None
    values = _state_values(change, alert, now)
    if spike is not None and (alert is None or change.event is not None):
        values.update(_evidence(conn, rule, spike, explain))
    if alert is None:
        assert spike is not None
        values.update(rule=rule.name, scope=scope, scope_kind=spike.kind, opened_at=now)
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


def _evidence(conn: Connection, rule: Rule, item: Judged, explain: ExplainFn) -> dict[str, Any]:
    verdict = item.verdict
    return {
        "severity": verdict.severity or "warning",
        "window_start": item.window[0], "window_end": item.window[1],
        "value": verdict.value, "baseline": verdict.median, "z": verdict.z,
        "explanation": explain(conn, rule, item),
    }


def _notify(
    conn: Connection, alert_id: int, event: str, now: datetime, endpoints: Sequence[EndpointFilter]
) -> None:
    table = AlertRow.__table__
    row = dict(conn.execute(select(table).where(table.c.id == alert_id)).mappings().one())
    record_event(conn, row, event, notification_payload(row, event, now), now, endpoints)


def get_alert(conn: Connection, alert_id: int) -> dict[str, Any] | None:
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
