"""The demo's own parts: stream reading, settings, and the receiver's signature check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from pipeline.clock import SimulatedClock
from pipeline.delivery.webhooks import new_secret, sign_headers
from pipeline.demo.run import DEMO_STEP_S, demo_settings, read_stream
from pipeline.demo.stream import DEFAULT_STREAM
from pipeline.settings import load_settings
from workers.webhook_receiver import WebhookReceiver

NOW = datetime(2026, 3, 10, 14, 5, tzinfo=UTC)


def test_read_stream_keeps_arrival_order_and_rejects_bad_lines(tmp_path: Path) -> None:
    lines = [
        '{"id": "a", "source": "s", "published_at": "2026-03-09T10:00:00Z", "headline": "one"}',
        "not json at all",
        '{"id": "b", "source": "s", "published_at": "2026-03-09T09:00:00Z", "headline": "late"}',
        '{"id": "c", "source": "s", "published_at": "2026-03-09T10:05:00Z", "headline": ""}',
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(lines) + "\n")
    read = read_stream(path, 262_144)
    assert [e.event.id for e in read.events] == ["a", "b"]
    # An item published before one already seen arrives after it, never back in time.
    assert read.events[1].due == read.events[0].due == datetime(2026, 3, 9, 10, tzinfo=UTC)
    assert len(read.rejected) == 2
    assert read.rejected[0].startswith("line 2:")


def test_the_bundled_stream_decodes() -> None:
    read = read_stream(DEFAULT_STREAM, 262_144)
    assert len(read.events) > 2000
    dues = [e.due for e in read.events]
    assert dues == sorted(dues)


def test_demo_settings_are_embedded_and_local(tmp_path: Path) -> None:
    base = load_settings(kafka={"bootstrap": "broker:9092"}, webhooks={"allowed_hosts": ["x"]})
    settings = demo_settings(base, tmp_path / "d.db", tmp_path / "bundle")
    assert settings.kafka.embedded
    assert settings.database.url.get_secret_value() == f"sqlite:///{tmp_path / 'd.db'}"
    assert settings.model.bundle == tmp_path / "bundle"
    assert settings.trends.step_s == DEMO_STEP_S
    assert settings.webhooks.allow_private_targets
    assert settings.webhooks.allowed_hosts == ()


@pytest.mark.parametrize(
    ("secret_used", "stamp", "tamper", "accepted"),
    [
        pytest.param("right", NOW, False, True, id="signed now"),
        pytest.param("right", NOW - timedelta(minutes=4), False, True, id="within tolerance"),
        pytest.param("wrong", NOW, False, False, id="other secret"),
        pytest.param("right", NOW - timedelta(minutes=6), False, False, id="stale"),
        pytest.param("right", NOW, True, False, id="body changed"),
    ],
)
def test_receiver_verifies_on_the_senders_clock(
    secret_used: str, stamp: datetime, tamper: bool, accepted: bool
) -> None:
    secret = new_secret()
    signing = secret if secret_used == "right" else new_secret()
    body = '{"type":"alert.firing"}'
    headers = sign_headers("msg_1", body, stamp, [signing])
    sent = body.replace("firing", "resolved") if tamper else body
    with WebhookReceiver(secret, SimulatedClock(NOW)) as receiver:
        response = httpx.post(receiver.url, content=sent, headers=headers)
    assert response.status_code == (204 if accepted else 401)
    assert [r.verified for r in receiver.received] == [accepted]
