"""Commands of the alerts feature: endpoints, alerts, backtest. Thin: parse, call, print."""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

import typer
from rich.table import Table

from pipeline.errors import ConfigError
from pipeline.storage.db import open_database
from workers.invocation import console, friendly_errors, settings
from workers.stream_cli import parse_moment

endpoints_app: typer.Typer = typer.Typer(
    help="Webhook endpoints that receive alerts.", no_args_is_help=True
)
alerts_app: typer.Typer = typer.Typer(
    help="Inspect, redeliver and silence alerts.", no_args_is_help=True
)


class ScopeKindChoice(StrEnum):
    market = "market"
    topic = "topic"
    ticker = "ticker"


class AlertStateChoice(StrEnum):
    pending = "pending"
    firing = "firing"
    resolved = "resolved"
    cancelled = "cancelled"


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if not match:
        raise ConfigError(f"not a duration: {text!r} (like 30m, 2h, 1d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


@endpoints_app.command("add")
@friendly_errors
def endpoints_add(
    name: str,
    url: str,
    scope_kind: Annotated[
        list[ScopeKindChoice] | None, typer.Option(help="Only these scope kinds (repeat)")
    ] = None,
    event_type: Annotated[list[str] | None, typer.Option(help="alert.firing, …")] = None,
    min_severity: Annotated[
        Literal["warning", "critical"], typer.Option(help="Least severity sent")
    ] = "warning",
    slack: Annotated[bool, typer.Option(help="Send a Slack-compatible body")] = False,
) -> None:
    """Register an endpoint; prints its signing secret once."""
    from pipeline.alerting.outbox import DEFAULT_EVENT_TYPES
    from pipeline.delivery.endpoints import add_endpoint

    config = settings()
    secret = add_endpoint(
        open_database(config.database),
        config.webhooks,
        name,
        url,
        datetime.now(UTC),
        scope_kinds=[kind.value for kind in scope_kind or ()],
        event_types=event_type or DEFAULT_EVENT_TYPES,
        min_severity=min_severity,
        body_format="slack" if slack else "standard",
    )
    console.print(f"endpoint {name} added; signing secret (shown once): {secret}", markup=False)


@endpoints_app.command("list")
@friendly_errors
def endpoints_list() -> None:
    """Endpoints with their filters and state."""
    from pipeline.delivery.endpoints import list_endpoints

    table = Table(title="webhook endpoints")
    for column in ("id", "name", "url", "enabled", "scopes", "events", "min severity", "body"):
        table.add_column(column, overflow="fold")
    for e in list_endpoints(open_database(settings().database)):
        state = "yes" if e.enabled else f"no ({e.disabled_reason})"
        table.add_row(
            str(e.id),
            e.name,
            e.url,
            state,
            ",".join(e.scope_kinds) or "all",
            ",".join(e.event_types),
            e.min_severity,
            e.body_format,
        )
    console.print(table)


@endpoints_app.command("disable")
@friendly_errors
def endpoints_disable(name: str) -> None:
    """Stop sending to an endpoint."""
    from pipeline.delivery.endpoints import disable_endpoint

    disable_endpoint(open_database(settings().database), name)
    console.print(f"endpoint {name} disabled")


@endpoints_app.command("rotate-secret")
@friendly_errors
def endpoints_rotate(name: str) -> None:
    """New signing secret; both are sent during the configured overlap."""
    from pipeline.delivery.endpoints import rotate_secret

    config = settings()
    now = datetime.now(UTC)
    secret = rotate_secret(open_database(config.database), config.webhooks, name, now)
    until = now + timedelta(seconds=config.webhooks.secret_overlap_s)
    console.print(f"new secret for {name}: {secret}", markup=False)
    console.print(f"the old one also signs until {until:%Y-%m-%d %H:%M}Z")


@alerts_app.command("list")
@friendly_errors
def alerts_list(
    state: Annotated[
        list[AlertStateChoice] | None, typer.Option(help="Only these states (repeat)")
    ] = None,
    limit: int = 50,
) -> None:
    """Newest alerts first."""
    from pipeline.reporting.alert_history import list_alerts

    with open_database(settings().database).connect() as conn:
        rows = list_alerts(conn, states=[s.value for s in state or ()], limit=limit)
    table = Table(title="alerts")
    for column in ("id", "rule", "scope", "state", "severity", "opened", "value", "z"):
        table.add_column(column, no_wrap=column in ("id", "scope", "state"), overflow="fold")
    for a in rows:
        table.add_row(
            str(a.alert_id),
            a.rule,
            a.scope,
            a.state,
            a.severity,
            f"{a.opened_at:%Y-%m-%d %H:%M}",
            f"{a.value:.2f}",
            f"{a.z:.1f}",
        )
    console.print(table)


@alerts_app.command("show")
@friendly_errors
def alerts_show(alert_id: int) -> None:
    """One alert with its explanation, as JSON."""
    from pipeline.alerting.alert_rows import get_alert

    with open_database(settings().database).connect() as conn:
        alert = get_alert(conn, alert_id)
    if alert is None:
        raise ConfigError(f"no alert {alert_id}")
    console.print_json(json.dumps(alert, default=str))


@alerts_app.command("redeliver")
@friendly_errors
def alerts_redeliver(
    alert_id: int,
    everything: Annotated[bool, typer.Option("--all", help="Delivered ones too")] = False,
) -> None:
    """Queue an alert's failed (or all) notifications again, with their webhook-ids."""
    from pipeline.delivery.notifier import redeliver

    count = redeliver(
        open_database(settings().database), alert_id, datetime.now(UTC), everything=everything
    )
    console.print(f"{count} notifications queued again")


@alerts_app.command("silence")
@friendly_errors
def alerts_silence(
    alert_id: int, duration: Annotated[str, typer.Option("--for", help="30m, 2h, 1d")] = "4h"
) -> None:
    """Hold back an alert's notifications for a while."""
    from pipeline.alerting.alert_rows import silence_alert

    until = datetime.now(UTC) + parse_duration(duration)
    with open_database(settings().database).begin() as conn:
        if not silence_alert(conn, alert_id, until):
            raise ConfigError(f"no alert {alert_id}")
    console.print(f"alert {alert_id} silenced until {until:%Y-%m-%d %H:%M}Z")


@friendly_errors
def backtest(
    start: Annotated[str, typer.Option("--from", help="ISO-8601 or 7d (ago)")],
    end: Annotated[str, typer.Option("--to", help="ISO-8601 or 0s (now)")] = "0s",
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON lines, one per event (docs/backtest-jsonl.md)")
    ] = False,
    store: Annotated[
        bool, typer.Option("--store", help="Store the alerts (history; replaces the span's)")
    ] = False,
) -> None:
    """Replay stored classifications through the rules; prints alerts, sends nothing."""
    from pipeline.alerting.backtest import event_line, run_backtest
    from pipeline.alerting.history import replay_history

    config = settings()
    engine = open_database(config.database)
    span = parse_moment(start), parse_moment(end)
    events = replay_history(engine, config, *span) if store else run_backtest(engine, config, *span)
    if as_json:
        for e in events:
            sys.stdout.write(json.dumps(event_line(e), ensure_ascii=False) + "\n")
        return
    _print_by_day(events)


def _print_by_day(events: list[Any]) -> None:
    grouped: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for e in events:
        grouped[(e.at.strftime("%Y-%m-%d"), e.scope)].append(e)
    for (day, scope), found in sorted(grouped.items()):
        console.print(f"[bold]{day}  {scope}[/]")
        for e in found:
            why = e.explanation
            detail = (
                f"share {why['value']:.2f} vs {why['baseline_median']:.2f}, z {why['z']:.1f}"
                if why
                else ""
            )
            console.print(
                f"  {e.at:%H:%M} {e.event:<15} {e.severity or '':<8} {detail}", markup=False
            )
            for item in why.get("top_items", [])[:3]:
                console.print(
                    f"      {item['score']:+.2f} {item['source']}: {item['headline']}", markup=False
                )
    console.print(f"{len(events)} events")
