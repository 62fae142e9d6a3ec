"""The alert lifecycle: pending -> firing -> resolved, one open alert per (rule, scope).

`advance` is the pure transition and `plan_changes` applies it to one step's verdicts;
`alert_rows.write_changes` then writes what was planned. Pure but for reading the open alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from pipeline.alerting.rules import Rule
from pipeline.alerting.verdicts import Judged
from pipeline.scope import scope_kind
from pipeline.storage.alert_tables import OPEN_STATES, AlertRow


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
class Planned:
    """One scope's change at a step: its open alert (if any), the change, the verdict."""

    scope: str
    alert: OpenAlert | None
    change: Change
    judged: Judged | None
    spike: Judged | None  # the verdict, when its condition holds
    needs_explanation: bool  # a spike that opens an alert or notifies carries its evidence
    is_transition: bool  # the state changes (a new alert counts)


def planned(scope: str, alert: OpenAlert | None, change: Change, judged: Judged | None) -> Planned:
    spike = judged if judged is not None and judged.verdict.condition else None
    explained = spike is not None and (alert is None or change.event is not None)
    moved = alert is None or alert.state != change.state
    return Planned(scope, alert, change, judged, spike, explained, moved)


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


def plan(
    conn: Connection,
    rule: Rule,
    judged: Mapping[str, Judged],
    now: datetime,
    muted: frozenset[str] = frozenset(),
) -> list[Planned]:
    """This step's changes for one rule: its open alerts advanced by the verdicts."""
    return plan_changes(open_alerts(conn, rule.name), judged, rule, now, muted)


def plan_changes(
    current: Mapping[str, OpenAlert],
    judged: Mapping[str, Judged],
    rule: Rule,
    now: datetime,
    muted: frozenset[str] = frozenset(),
) -> list[Planned]:
    """Advance every scope with a verdict or an open alert (pure); scopes of a `muted` kind
    (inhibited this step) keep their state."""
    found: list[Planned] = []
    for scope in sorted(set(judged) | set(current)):
        if scope_kind(scope) in muted:
            continue
        item = judged.get(scope)
        alert = current.get(scope)
        change = advance(alert, bool(item and item.verdict.condition), rule, now)
        if change is not None:
            found.append(planned(scope, alert, change, item))
    return found
