"""Print docs/events.md: the inbound event and the webhook bodies, from the models in schemas/.

    .venv/bin/python scripts/schema_docs.py > docs/events.md

Field tables come from the models' JSON Schema; the examples are built by the code that
validates events and renders notifications, so both follow the code (tests/unit/test_docs.py).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import BaseModel

from pipeline.alerting.outbox import alert_of, notification_payload
from pipeline.delivery.webhooks import encode_body, sign_headers, slack_body
from schemas import NewsEvent, decode_news_event
from schemas.news import MAX_JSON_DEPTH
from schemas.webhooks import AlertNotification, SlackMessage

EXAMPLE_EVENT: dict[str, Any] = {
    "id": "nw-01712",
    "source": "northwind-wire",
    "published_at": "2026-03-10T14:02:11Z",
    "headline": "Novalith Corp. discloses SEC investigation into its books",
    "body": "The company said it is cooperating with the inquiry.",
    "url": "https://northwind.example.com/2026/03/10/novalith-sec-investigation-1712",
    "tickers": ["NVLT"],
    "lang": "en",
    "schema_version": "1.0",
}
EXAMPLE_TOP_ITEM: dict[str, Any] = {
    "id": "nw-01712",
    "headline": EXAMPLE_EVENT["headline"],
    "source": "northwind-wire",
    "url": EXAMPLE_EVENT["url"],
    "score": -0.91,
    "p_negative": 0.93,
    "event_time": "2026-03-10T14:02:11+00:00",
}
EXAMPLE_ALERT: dict[str, Any] = {
    "id": 7,
    "rule": "negative_spike",
    "scope": "ticker:NVLT",
    "scope_kind": "ticker",
    "state": "firing",
    "severity": "warning",
    "opened_at": "2026-03-10T14:03:30+00:00",
    "fired_at": "2026-03-10T14:04:00+00:00",
    "resolved_at": None,
    "explanation": {
        "detector": "mad",
        "value": 0.4,
        "count": 10,
        "baseline_median": 0.0,
        "baseline_scale": 0.05,
        "baseline_windows": 24,
        "z": 8.0,
        "threshold": 3.0,
        "min_count": 5,
        "min_negative_share": 0.4,
        "window_start": "2026-03-10T13:04:00+00:00",
        "window_end": "2026-03-10T14:04:00+00:00",
        "top_items": [EXAMPLE_TOP_ITEM],
    },
}
EXAMPLE_NOW = datetime(2026, 3, 10, 14, 4, 5, tzinfo=UTC)
EXAMPLE_WEBHOOK_ID = "msg_5f0c2a9e7b1d4c38a6e29d0b4f7a1c53"
# A made-up secret, so the example signature is reproducible; real ones come from
# `finsent endpoints add`.
EXAMPLE_SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def events_markdown() -> str:
    """The whole of docs/events.md."""
    parts = [_INTRO, _inbound(), _webhooks()]
    return "\n".join(parts)


_INTRO = """# Event formats

What crosses finsent's boundaries: the news event producers publish to `news.raw`, and the
webhook bodies finsent POSTs to registered endpoints. Generated from the pydantic models in
`schemas/` by `python scripts/schema_docs.py` (a test keeps it current); the inbound event's
JSON Schema is `schemas/news_event.schema.json` (`finsent schema`).
"""


def _inbound() -> str:
    event = decode_news_event(json.dumps(EXAMPLE_EVENT).encode("utf-8"))
    if event.warnings:
        raise SystemExit(f"the example event is not clean: {event.warnings}")
    return f"""## Inbound: `NewsEvent` (topic `news.raw`)

{_doc(NewsEvent)}

One JSON object per Kafka record, UTF-8, at most `FINSENT_EVENTS__MAX_EVENT_BYTES` bytes, its
arrays and objects nested at most {MAX_JSON_DEPTH} deep (the record itself counts as one).
A record that is not a valid event (not JSON, a missing or blank `source`/`headline`, a
`published_at` without a time zone, an unsupported major `schema_version`, too large) goes
to `news.dlq` with its reason; an invalid optional field is dropped and named in `warnings`
instead. Without an `id`, the item's id is a hash of source, url, headline and
`published_at`. The Kafka key is free (`finsent replay` uses the first ticker, else the
source).

{fields_table(NewsEvent.model_json_schema(mode="validation"))}
Example (`finsent replay` publishes lines like this from a JSONL file):

```json
{json.dumps(EXAMPLE_EVENT, indent=2)}
```
"""


def _webhooks() -> str:
    payload = notification_payload(alert_of(EXAMPLE_ALERT), "alert.firing", EXAMPLE_NOW)
    body = encode_body(payload, "standard")
    headers = sign_headers(EXAMPLE_WEBHOOK_ID, body, EXAMPLE_NOW, [EXAMPLE_SECRET])
    schema = AlertNotification.model_json_schema(mode="serialization")
    definitions = schema.get("$defs", {})
    nested = "\n".join(
        f"### `{name}`\n\n{definitions[name].get('description', '')}\n\n"
        f"{fields_table(definitions[name])}"
        for name in sorted(definitions)
    )
    header_lines = "\n".join(f"{k}: {v}" for k, v in headers.items())
    return f"""## Webhooks: `AlertNotification`

{_doc(AlertNotification)}

Sent as a POST with a compact JSON body (keys sorted) and
[Standard Webhooks](https://www.standardwebhooks.com/) headers: `webhook-id` (the same on
every retry of one notification), `webhook-timestamp` (Unix seconds) and `webhook-signature`
(`v1,` + base64 HMAC-SHA256 of `{{webhook-id}}.{{webhook-timestamp}}.{{body}}`, keyed by the
base64 part of the endpoint's `whsec_` secret; during a secret rotation every secret in force
signs, space-separated). Verify the signature and reject old timestamps before trusting a
body; deduplicate on `webhook-id`. A receiver answers 2xx. A 4xx other than 408 or 429 is
final; other answers, timeouts and refused connections are retried with backoff for up to
`FINSENT_WEBHOOKS__RETRY_HORIZON_S`.

{fields_table(schema)}
{nested}
Example: the headers and body of an `alert.firing` notification, signed with the
made-up secret `{EXAMPLE_SECRET}` (the body is shown indented; on the
wire it is the compact form that was signed).

```http
{header_lines}
```

```json
{json.dumps(payload, indent=2)}
```

### Slack-compatible body: `SlackMessage`

An endpoint added with `finsent endpoints add … --slack` gets this body instead, signed the
same way.

{fields_table(SlackMessage.model_json_schema(mode="serialization"))}
```json
{json.dumps(slack_body(payload), indent=2)}
```
"""


def fields_table(schema: dict[str, Any]) -> str:
    """A Markdown table of one object schema: field, JSON type, required, default, meaning."""
    required = set(schema.get("required", ()))
    lines = ["| field | type | required | default | meaning |", "|---|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        cells = [
            f"`{name}`",
            json_type(prop),
            "yes" if name in required else "no",
            default,
            _constraints(prop, prop.get("description", "")),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def json_type(prop: dict[str, Any]) -> str:
    """A JSON Schema property in words: `string (date-time)`, `array of string`, a link."""
    if "$ref" in prop:
        name = str(prop["$ref"]).rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "anyOf" in prop:
        kinds = [json_type(p) for p in prop["anyOf"]]
        return " or ".join(kinds)
    if "enum" in prop:
        return "one of " + ", ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    kind = str(prop.get("type", "any"))
    if kind == "array":
        items = prop.get("items")
        return f"array of {json_type(items)}" if isinstance(items, dict) and items else "array"
    if kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        return f"object of {json_type(prop['additionalProperties'])}"
    return f"{kind} ({prop['format']})" if "format" in prop else kind


def _constraints(prop: dict[str, Any], text: str) -> str:
    limits = [
        f"{label} {prop[key]}"
        for key, label in (("minLength", "min length"), ("maxLength", "max length"))
        if key in prop
    ]
    return "; ".join([t for t in (text, ", ".join(limits)) if t])


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    sys.stdout.write(events_markdown())
