"""The outbox fan-out: endpoint filters, silencing, redelivery with the same webhook-id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from pipeline.alerting.alert_rows import silence_alert
from pipeline.delivery.endpoints import add_endpoint, disable_endpoint, list_endpoints
from pipeline.delivery.notifier import redeliver
from pipeline.errors import ConfigError
from pipeline.settings import WebhookSettings
from pipeline.storage.alert_tables import WebhookDeliveryRow
from pipeline.storage.tables import Base
from tests.integration.alert_fixtures import open_alert, queue_notifications

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
PUBLIC = WebhookSettings()


def public_dns(host: str) -> list[str]:
    return ["93.184.216.34"]


@pytest.fixture
def engine() -> Iterator[Engine]:
    import pipeline.storage.alert_tables
    import pipeline.storage.trend_tables  # noqa: F401

    memory = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    Base.metadata.create_all(memory)
    yield memory
    memory.dispose()


def deliveries(engine: Engine) -> list[WebhookDeliveryRow]:
    with Session(engine) as session:
        return list(session.scalars(select(WebhookDeliveryRow).order_by(WebhookDeliveryRow.id)))


def add(engine: Engine, name: str, **filters: object) -> None:
    add_endpoint(engine, PUBLIC, name, f"https://{name}.example/hook", NOW,
                 resolve=public_dns, **filters)  # type: ignore[arg-type]


def test_endpoint_filters_decide_who_is_notified(engine: Engine) -> None:
    add(engine, "everything")
    add(engine, "markets-only", scope_kinds=["market"])
    add(engine, "critical-only", min_severity="critical")
    add(engine, "resolutions", event_types=["alert.resolved"])
    add(engine, "off")
    disable_endpoint(engine, "off")
    queue_notifications(engine, open_alert(engine, "ticker:ACME", NOW), 1, NOW)  # critical
    names = {e.id: e.name for e in list_endpoints(engine)}
    assert sorted(names[d.endpoint_id] for d in deliveries(engine)) == [
        "critical-only", "everything",
    ]


def test_silenced_alert_holds_back_and_redeliver_requeues_with_same_ids(engine: Engine) -> None:
    add(engine, "desk")
    alert = open_alert(engine, "market", NOW)
    queue_notifications(engine, alert, 2, NOW)
    with engine.begin() as conn:
        assert silence_alert(conn, alert["id"], NOW + timedelta(hours=1)) == 1
    alert["silenced_until"] = NOW + timedelta(hours=1)
    queue_notifications(engine, alert, 1, NOW)
    before = deliveries(engine)
    assert [d.status for d in before] == ["silenced"] * 3
    assert redeliver(engine, alert["id"], NOW + timedelta(minutes=5)) == 3
    after = deliveries(engine)
    assert [d.status for d in after] == ["pending"] * 3
    assert [d.webhook_id for d in after] == [d.webhook_id for d in before]
    assert all(d.next_attempt_at == NOW + timedelta(minutes=5) for d in after)


def test_endpoint_validation(engine: Engine) -> None:
    add(engine, "one")
    with pytest.raises(ConfigError, match="already exists"):
        add(engine, "one")
    with pytest.raises(ConfigError, match="unknown scope kinds"):
        add(engine, "two", scope_kinds=["sector"])
    with pytest.raises(ConfigError, match="min severity"):
        add(engine, "three", min_severity="panic")
    with pytest.raises(ConfigError, match="private address"):
        add_endpoint(engine, PUBLIC, "four", "http://127.0.0.1:8080/x", NOW)
    with pytest.raises(ConfigError, match="no endpoint named"):
        disable_endpoint(engine, "missing")
