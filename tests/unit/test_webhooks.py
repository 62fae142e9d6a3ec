"""Webhook wire format: signatures a Standard Webhooks receiver accepts, backoff, targets."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from pipeline.alerting.outbox import alert_of, notification_payload
from pipeline.delivery.webhooks import (
    Resolver,
    check_target,
    encode_body,
    is_final_status,
    new_secret,
    retry_delay,
    sign_headers,
)
from pipeline.errors import ConfigError
from pipeline.settings import WebhookSettings

NOW = datetime.now(UTC)


def alert_row() -> dict[str, object]:
    return {
        "id": 7, "rule": "negative_spike", "scope": "ticker:ACME", "scope_kind": "ticker",
        "state": "firing", "severity": "critical", "opened_at": NOW, "fired_at": NOW,
        "resolved_at": None,
        "explanation": {
            "detector": "mad", "value": 0.75, "count": 16, "baseline_median": 0.0,
            "baseline_scale": 0.05, "baseline_windows": 24, "z": 15.0, "threshold": 3.0,
            "min_count": 5, "min_negative_share": 0.4, "window_start": NOW - timedelta(hours=1),
            "window_end": NOW,
            "top_items": [{"id": "a", "headline": "ACME misses", "source": "wire",
                           "url": "https://n.example/a", "score": -0.8, "p_negative": 0.85,
                           "event_time": NOW}],
        },
    }


def test_signature_verifies_with_the_standard_webhooks_library() -> None:
    secret = new_secret()
    body = encode_body(notification_payload(alert_of(alert_row()), "alert.firing", NOW), "standard")
    # Signed now, not at import: the library refuses timestamps over 5 minutes old.
    headers = sign_headers("msg_1", body, datetime.now(UTC), [secret])
    assert Webhook(secret).verify(body, headers)["type"] == "alert.firing"
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("ACME", "ACMF"), headers)


def test_during_rotation_both_secrets_sign() -> None:
    old, fresh = new_secret(), new_secret()
    headers = sign_headers("msg_2", "{}", datetime.now(UTC), [fresh, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify("{}", headers)
    Webhook(fresh).verify("{}", headers)


def test_payload_is_the_public_envelope() -> None:
    payload = notification_payload(alert_of(alert_row()), "alert.resolved", NOW)
    assert payload["type"] == "alert.resolved"
    assert payload["data"]["explanation"]["top_items"][0]["headline"] == "ACME misses"
    slack = json.loads(encode_body(payload, "slack"))
    assert set(slack) == {"text"}
    assert "ticker:ACME" in slack["text"]
    assert "75%" in slack["text"]
    assert "ACME misses" in slack["text"]


@pytest.mark.parametrize(
    ("status", "final"),
    [
        pytest.param(400, True, id="400 final"),
        pytest.param(401, True, id="401 final"),
        pytest.param(404, True, id="404 final"),
        pytest.param(410, True, id="410 final"),
        pytest.param(408, False, id="408 retried"),
        pytest.param(429, False, id="429 retried"),
        pytest.param(500, False, id="500 retried"),
        pytest.param(503, False, id="503 retried"),
    ],
)
def test_which_statuses_are_final(status: int, final: bool) -> None:
    assert is_final_status(status) is final


def test_backoff_grows_with_jitter_up_to_the_cap() -> None:
    settings = WebhookSettings(backoff_base_s=2.0, backoff_max_s=60.0)
    rng = random.Random(5)
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (20, 60.0)]:
        delays = [retry_delay(attempt, settings, rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert len(set(delays)) > 100, "jittered"


def fake_dns(table: dict[str, list[str]]) -> Resolver:
    return lambda host: table[host]


@pytest.mark.parametrize(
    ("url", "addresses", "private_ok", "problem"),
    [
        pytest.param("https://hooks.example/x", ["93.184.216.34"], False, None, id="public"),
        pytest.param("https://hooks.example/x", ["169.254.169.254"], True, "never allowed",
                     id="metadata address even when private is allowed"),
        pytest.param("https://hooks.example/x", ["fe80::1"], True, "never allowed",
                     id="IPv6 link-local"),
        pytest.param("http://hooks.example/x", ["127.0.0.1"], False, "private address",
                     id="loopback refused by default"),
        pytest.param("http://hooks.example/x", ["10.1.2.3"], False, "private address",
                     id="RFC 1918 refused by default"),
        pytest.param("http://hooks.example/x", ["127.0.0.1"], True, None,
                     id="loopback when private targets are allowed"),
        pytest.param("http://metadata.google.internal/x", ["10.0.0.1"], True, "metadata",
                     id="metadata host name"),
        pytest.param("ftp://hooks.example/x", ["93.184.216.34"], True, "must be http",
                     id="not http"),
        pytest.param("https://hooks.example/x", ["93.184.216.34", "10.0.0.1"], False,
                     "private address", id="any private answer is refused"),
    ],
)
def test_target_allow_list(
    url: str, addresses: list[str], private_ok: bool, problem: str | None
) -> None:
    settings = WebhookSettings(allow_private_targets=private_ok)
    resolve = fake_dns({"hooks.example": addresses, "metadata.google.internal": addresses})
    if problem is None:
        check_target(url, settings, resolve)
        return
    with pytest.raises(ConfigError, match=problem):
        check_target(url, settings, resolve)


def test_allowed_hosts_restricts_targets() -> None:
    settings = WebhookSettings(allowed_hosts=("hooks.example",))
    check_target("https://hooks.example/a", settings, lambda h: ["93.184.216.34"])
    with pytest.raises(ConfigError, match=r"not in webhooks\.allowed_hosts"):
        check_target("https://other.example/a", settings, lambda h: ["93.184.216.34"])
