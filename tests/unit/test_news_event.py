"""Inbound validation (DESIGN §3): every bad input rejected with a specific reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas.news import (
    MAX_JSON_DEPTH,
    EventRejected,
    NewsEvent,
    decode_news_event,
    derive_event_id,
    news_event_json_schema,
)

GOOD: dict[str, Any] = {
    "id": "reuters-1",
    "source": "reuters",
    "published_at": "2026-03-09T14:00:00Z",
    "headline": "Acme shares fall after profit warning",
    "body": "Acme cut its outlook.",
    "url": "https://example.com/acme",
    "tickers": ["ACME"],
    "lang": "en",
    "schema_version": "1.0",
}


def encode(**changes: Any) -> bytes:
    event = {**GOOD, **changes}
    return json.dumps({k: v for k, v in event.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("raw", "kind", "reason"),
    [
        pytest.param(b"{not json", "json", "malformed JSON", id="malformed JSON"),
        pytest.param(b"\xff\xfe{}", "encoding", "not UTF-8", id="non-UTF-8 bytes"),
        pytest.param(b"", "empty", "empty message", id="empty message"),
        pytest.param(b"   \n", "empty", "empty message", id="whitespace only"),
        pytest.param(b"[1, 2]", "invalid_field", "JSON object", id="JSON array"),
        pytest.param(b'"text"', "invalid_field", "JSON object", id="JSON string"),
        pytest.param(encode(headline=...), "missing_field", "headline: required", id="no headline"),
        pytest.param(encode(headline="   "), "invalid_field", "headline", id="blank headline"),
        pytest.param(
            encode(headline="\x1f\x1c"), "invalid_field", "headline: is blank", id="separators"
        ),
        pytest.param(encode(source="\x1e"), "invalid_field", "source: is blank", id="blank source"),
        pytest.param(
            encode(headline=42), "invalid_field", "headline: must be a string", id="int headline"
        ),
        pytest.param(encode(source=...), "missing_field", "source: required", id="no source"),
        pytest.param(
            encode(published_at=...), "missing_field", "published_at: required", id="no time"
        ),
        pytest.param(
            encode(published_at="2026-03-09T14:00:00"),
            "invalid_field",
            "timezone",
            id="naive timestamp",
        ),
        pytest.param(
            encode(published_at="yesterday"),
            "invalid_field",
            "published_at",
            id="unparsable timestamp",
        ),
        pytest.param(
            encode(published_at=12.5e20), "invalid_field", "published_at", id="absurd epoch"
        ),
        pytest.param(
            encode(headline="a\x00b"), "invalid_field", "NUL byte", id="NUL byte in headline"
        ),
        pytest.param(
            encode(schema_version="2.0"), "schema_version", "major version 2", id="major 2"
        ),
        pytest.param(
            encode(schema_version="one"), "schema_version", "not major.minor", id="bad version"
        ),
        pytest.param(encode(id=["x"]), "invalid_field", "id: must be a string", id="id is a list"),
        pytest.param(
            encode(headline="x" * 3000), "invalid_field", "headline", id="headline too long"
        ),
        pytest.param(
            encode(body="x" * 300_000),
            "oversize",
            "over the 262144-byte limit",
            id="over-size event",
        ),
    ],
)
def test_bad_inputs_rejected_with_reason(raw: bytes, kind: str, reason: str) -> None:
    with pytest.raises(EventRejected) as caught:
        decode_news_event(raw)
    assert caught.value.kind == kind
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("raw", "kind", "reason", "never"),
    [
        pytest.param(
            b'{"id": "a", "id": "b", "source": "s", "published_at": "2026-03-09T14:00:00Z", '
            b'"headline": "h"}',
            "duplicate_key",
            "duplicate key 'id'",
            "",
            id="duplicate id: one message, two identities",
        ),
        pytest.param(
            encode(extra={"k": 1}).replace(b'"extra": {"k": 1}', b'"extra": {"k": 1, "k": 2}'),
            "duplicate_key",
            "duplicate key 'k'",
            "",
            id="duplicate key in a nested object",
        ),
        pytest.param(
            encode(schema_version=999),
            "schema_version",
            "unsupported schema major version 999",
            "valid string",
            id="schema_version as a number",
        ),
        pytest.param(
            encode(schema_version=None),
            "schema_version",
            'must be a "major.minor" string, got null',
            "NoneType",
            id="schema_version null",
        ),
        pytest.param(
            b'{"source": "abc', "json", "starting at (line 1", "at at", id="no doubled word"
        ),
        pytest.param(
            encode(source=None),
            "invalid_field",
            "source: must be a string, got null",
            "NoneType",
            id="null source in JSON words",
        ),
        pytest.param(
            encode(headline={"a": 1}), "invalid_field", "got object", "dict", id="object headline"
        ),
    ],
)
def test_rejections_speak_json(raw: bytes, kind: str, reason: str, never: str) -> None:
    with pytest.raises(EventRejected) as caught:
        decode_news_event(raw)
    assert caught.value.kind == kind
    assert reason in caught.value.reason
    assert not never or never not in caught.value.reason


@pytest.mark.parametrize(
    ("version", "stored"),
    [
        pytest.param(1, "1.0", id="bare major number"),
        pytest.param(1.3, "1.3", id="number major.minor"),
    ],
)
def test_a_numeric_schema_version_of_our_major_is_accepted(version: Any, stored: str) -> None:
    assert decode_news_event(encode(schema_version=version)).schema_version == stored


def test_warnings_name_json_types() -> None:
    event = decode_news_event(encode(tickers={"a": 1}, body=7))
    assert event.warnings == (
        "tickers dropped: expected an array, got object",
        "body dropped: expected a string, got number",
    )


def test_good_event_round_trips() -> None:
    event = decode_news_event(encode())
    assert event.id == "reuters-1"
    assert event.tickers == ("ACME",)
    assert event.published_at.utcoffset() is not None
    assert event.warnings == ()


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        pytest.param(
            {"extra_field": 1, "nested": {"a": 2}},
            lambda e: e.warnings == (),
            id="unknown fields ignored",
        ),
        pytest.param(
            {"schema_version": "1.7"},
            lambda e: e.schema_version == "1.7",
            id="newer minor accepted",
        ),
        pytest.param(
            {"tickers": ["brk-a", "RDS.B", "$aapl"]},
            lambda e: e.tickers == ("BRK-A", "RDS.B", "AAPL"),
            id="symbols normalized",
        ),
        pytest.param(
            {"tickers": ["AAPL", "not a ticker!"]},
            lambda e: e.tickers == ("AAPL",) and "ticker dropped" in e.warnings[0],
            id="invalid ticker dropped",
        ),
        pytest.param(
            {"url": "javascript:alert(1)"},
            lambda e: e.url is None and "url dropped" in e.warnings[0],
            id="bad url dropped",
        ),
        pytest.param(
            {"lang": "english!"},
            lambda e: e.lang == "und" and "lang dropped" in e.warnings[0],
            id="bad lang dropped",
        ),
        pytest.param(
            {"lang": "DE"}, lambda e: e.lang == "de" and not e.is_english, id="non-English kept"
        ),
        pytest.param(
            {"tickers": "TSLA"}, lambda e: e.tickers == ("TSLA",), id="single ticker string"
        ),
        pytest.param(
            {"tickers": {"a": 1}}, lambda e: e.tickers == () and e.warnings, id="tickers wrong type"
        ),
        pytest.param(
            {"body": 17},
            lambda e: e.body is None and "body dropped" in e.warnings[0],
            id="body wrong type",
        ),
        pytest.param(
            {"published_at": "2026-03-09T16:00:00+02:00"},
            lambda e: e.published_at.hour == 16,
            id="offset kept",
        ),
    ],
)
def test_optional_fields_dropped_with_warning(changes: dict[str, Any], check: Any) -> None:
    assert check(decode_news_event(encode(**changes)))


def test_missing_id_is_derived_from_content() -> None:
    event = decode_news_event(encode(id=...))
    assert event.id == derive_event_id(event.source, event.url, event.headline, event.published_at)
    assert event.id == decode_news_event(encode(id=...)).id
    assert event.id != decode_news_event(encode(id=..., headline="Other")).id


def test_size_limit_is_configurable() -> None:
    raw = encode()
    with pytest.raises(EventRejected, match="over the 100-byte limit"):
        decode_news_event(raw, max_bytes=100)


def test_json_schema_file_in_sync() -> None:
    path = Path(__file__).parents[2] / "schemas" / "news_event.schema.json"
    on_disk = json.loads(path.read_text())
    assert on_disk == json.loads(json.dumps(news_event_json_schema())), (
        "schemas/news_event.schema.json is stale: run `finsent schema`"
    )


def test_event_is_frozen() -> None:
    event = NewsEvent.model_validate({**GOOD})
    with pytest.raises(ValueError, match="frozen"):
        event.headline = "changed"  # type: ignore[misc]


def nested_event(depth: int) -> bytes:
    """A valid event whose `extra` field makes the whole nest `depth` levels deep."""
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return ('{"source": "wire", "published_at": "2026-01-01T00:00:00Z", "headline": "h", '
            f'"extra": {inner}, "note": "brackets in strings do not count: [[[[{{{{"}}').encode()


def test_nesting_has_one_limit_wherever_the_decoder_is_called() -> None:
    """The fuzz run's 13 disagreements: a message nested ~950 deep decoded in a shallow caller
    and failed in the worker's deeper stack. The limit is now fixed, and the same everywhere."""
    assert decode_news_event(nested_event(MAX_JSON_DEPTH)).headline == "h"

    def from_deep_stack(frames: int, raw: bytes) -> str:
        if frames:
            return from_deep_stack(frames - 1, raw)
        try:
            return decode_news_event(raw).headline
        except EventRejected as e:
            return e.kind + ": " + e.reason

    assert from_deep_stack(600, nested_event(MAX_JSON_DEPTH)) == "h"
    for raw in (nested_event(MAX_JSON_DEPTH + 1), nested_event(900)):
        shallow, deep = from_deep_stack(0, raw), from_deep_stack(600, raw)
        assert shallow == deep
        assert shallow.startswith("json: malformed JSON: nested ")
        assert f"over the limit of {MAX_JSON_DEPTH}" in shallow
