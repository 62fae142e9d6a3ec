"""The alerts commands end to end on PostgreSQL: endpoints, alerts, backtest."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from pipeline.settings import load_settings
from pipeline.storage.alert_tables import AlertRow, WebhookDeliveryRow, WebhookEndpointRow
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import upgrade
from tests.integration.alert_fixtures import Stream, open_alert, queue_notifications
from workers.cli import app


def invoke(pg_url: str, *args: str) -> str:
    env = {"FINSENT_DATABASE__URL": pg_url, "FINSENT_WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
           "COLUMNS": "160"}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def endpoint(engine: Engine) -> WebhookEndpointRow:
    with Session(engine) as session:
        return session.scalars(select(WebhookEndpointRow)).one()


def test_endpoint_commands(pg_url: str) -> None:
    upgrade(pg_url)
    engine = make_engine(load_settings(database={"url": pg_url}).database)
    added = invoke(pg_url, "endpoints", "add", "desk", "http://127.0.0.1:8999/hook",
                   "--scope-kind", "ticker", "--min-severity", "critical", "--slack")
    secret = re.search(r"whsec_\S+", added)
    assert secret is not None
    row = endpoint(engine)
    assert (row.secret, row.scope_kinds, row.min_severity, row.body_format) == (
        secret.group(0), ["ticker"], "critical", "slack",
    )
    assert "desk" in invoke(pg_url, "endpoints", "list")
    rotated = re.search(r"whsec_\S+", invoke(pg_url, "endpoints", "rotate-secret", "desk"))
    assert rotated is not None
    row = endpoint(engine)
    assert (row.secret, row.previous_secret) == (rotated.group(0), secret.group(0))
    invoke(pg_url, "endpoints", "disable", "desk")
    assert not endpoint(engine).enabled
    refused = CliRunner().invoke(app, ["endpoints", "disable", "nobody"],
                                 env={"FINSENT_DATABASE__URL": pg_url})
    assert refused.exit_code == 2
    assert "no endpoint named 'nobody'" in refused.output


def test_alert_commands_and_backtest(pg_url: str) -> None:
    upgrade(pg_url)
    engine = make_engine(load_settings(database={"url": pg_url}).database)
    now = datetime.now(UTC)
    invoke(pg_url, "endpoints", "add", "desk", "http://127.0.0.1:8999/hook")
    alert = open_alert(engine, "ticker:ACME", now)
    queue_notifications(engine, alert, 2, now)

    assert "ticker:ACME" in invoke(pg_url, "alerts", "list", "--state", "firing")
    shown = json.loads(invoke(pg_url, "alerts", "show", str(alert["id"])))
    assert shown["explanation"]["z"] == 12.0
    invoke(pg_url, "alerts", "silence", str(alert["id"]), "--for", "2h")
    with Session(engine) as session:
        silenced = session.get(AlertRow, alert["id"])
        statuses = session.scalars(select(WebhookDeliveryRow.status)).all()
    assert silenced is not None
    assert silenced.silenced_until is not None
    assert timedelta(hours=1.9) < silenced.silenced_until - now < timedelta(hours=2.1)
    assert statuses == ["silenced", "silenced"]
    assert "2 notifications queued again" in invoke(pg_url, "alerts", "redeliver", str(alert["id"]))

    stream = Stream(engine)
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    stream.register_model(start - timedelta(days=2))
    for minute in range(0, 26 * 60, 10):
        stream.add(start - timedelta(hours=26, minutes=-minute), "ACME", "neutral")
    for k in range(8):
        stream.add(start + timedelta(minutes=1, seconds=k), "ACME", "negative")
    stream.flush()
    out = invoke(pg_url, "backtest", "--from", start.isoformat(),
                 "--to", (start + timedelta(hours=2)).isoformat())
    assert "ticker:ACME" in out
    assert "alert.firing" in out
    assert "alert.resolved" in out
    assert "ACME negative news" in out, "top items are printed"
