"""Webhook wire format: payloads, Standard Webhooks signatures, backoff, allowed targets."""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import re
import secrets
import socket
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from standardwebhooks.webhooks import Webhook

from pipeline.errors import ConfigError
from pipeline.settings import WebhookSettings
from schemas.webhooks import SlackMessage

FINAL_CLIENT_ERRORS_EXCEPT = (408, 429)
_METADATA_HOSTS = ("metadata.google.internal", "metadata")
_METADATA_ADDRESSES = ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
Resolver = Callable[[str], Sequence[str]]


def slack_body(payload: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible rendering of a notification: one readable line of text."""
    data = payload["data"]
    why = data["explanation"]
    line = (
        f"[{data['severity'].upper()}] {payload['type']} {data['scope']}: negative share "
        f"{why['value']:.0%} vs baseline {why['baseline_median']:.0%} (z={why['z']:.1f}, "
        f"threshold {why['threshold']:g}), window {why['window_start']} - {why['window_end']}"
    )
    tops = [f"- {t['headline']} ({t['source']}, {t['score']:+.2f})" for t in why["top_items"][:3]]
    return SlackMessage(text="\n".join([line, *tops])).model_dump()


def encode_body(payload: dict[str, Any], body_format: str) -> str:
    body = slack_body(payload) if body_format == "slack" else payload
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def new_secret() -> str:
    return "whsec_" + _b64(secrets.token_bytes(32))


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def sign_headers(
    webhook_id: str, body: str, when: datetime, secrets_in_force: Sequence[str]
) -> dict[str, str]:
    """Standard Webhooks headers; during a rotation overlap every secret signs (space-joined)."""
    signatures = [Webhook(s).sign(webhook_id, when, body) for s in secrets_in_force]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }


def retry_delay(attempt: int, settings: WebhookSettings, rng: random.Random) -> float:
    """Exponential backoff with jitter: uniformly in [d/2, d], d = min(max, base·2^(n-1))."""
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * 2 ** (attempt - 1))
    return rng.uniform(ceiling / 2, ceiling)


_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s@]+@", re.IGNORECASE)
_QUERY = re.compile(r"(?P<path>[a-z][a-z0-9+.-]*://[^\s?#]*)\?[^\s#]*(#\S*)?", re.IGNORECASE)


def redact_url(url: str) -> str:
    """A URL fit for a log line: no userinfo, no query string, no fragment (they may hold
    tokens)."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rsplit("@", 1)[-1]
    except ValueError:
        return "<unparsable url>"
    netloc = f"***@{host}" if "@" in parts.netloc else host
    return urlunsplit((parts.scheme, netloc, parts.path, "***" if parts.query else "", ""))


def redact_text(text: str) -> str:
    """Any URL inside free text (an HTTP client's error) with credentials and query masked."""
    text = _CREDENTIALS.sub(lambda m: m.group("scheme") + "***@", text)
    return _QUERY.sub(lambda m: m.group("path") + "?***", text)


def is_final_status(status: int) -> bool:
    """4xx other than 408/429 will not change by retrying."""
    return 400 <= status < 500 and status not in FINAL_CLIENT_ERRORS_EXCEPT


def check_target(url: str, settings: WebhookSettings, resolve: Resolver | None = None) -> None:
    """Refuse targets a webhook must not reach: link-local and metadata always, private/loopback
    unless allowed, anything outside allowed_hosts when that list is set."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(f"webhook url {url!r} must be http(s)://host/...")
    if settings.allowed_hosts and host not in settings.allowed_hosts:
        raise ConfigError(f"webhook host {host} is not in webhooks.allowed_hosts")
    if host in _METADATA_HOSTS:
        raise ConfigError(f"webhook host {host} is a cloud metadata service")
    for address in (resolve or _resolve)(host):
        _check_address(host, ipaddress.ip_address(address.split("%")[0]), settings)


def _check_address(host: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
                   settings: WebhookSettings) -> None:
    never = ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved
    if never or str(ip) in _METADATA_ADDRESSES:
        raise ConfigError(f"webhook host {host} resolves to {ip}, which is never allowed")
    if (ip.is_loopback or ip.is_private) and not settings.allow_private_targets:
        raise ConfigError(
            f"webhook host {host} resolves to private address {ip}; "
            "set webhooks.allow_private_targets to allow it"
        )


def _resolve(host: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        raise ConfigError(f"webhook host {host} does not resolve: {e}") from e
    return sorted({str(info[4][0]) for info in infos})
