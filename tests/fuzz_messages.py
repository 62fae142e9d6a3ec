"""Hypothesis strategies for inbound messages: random bytes, random JSON, near-valid events.

Shared by the decode fuzz tests, the worker fuzz test and bench/fuzz.py, so every tier
throws the same kinds of garbage at the same contract.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

REQUIRED = ("source", "published_at", "headline")
OPTIONAL = ("id", "body", "url", "tickers", "lang", "schema_version")

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)

# Texts that have broken parsers before: SQL, markup, control and non-BMP characters.
hostile_text = st.sampled_from(
    [
        "'; DROP TABLE news_items; --",
        "Robert'); DELETE FROM classifications WHERE ('1'='1",
        "%s %(x)s {0} $1 :name",
        "<script>alert(1)</script>",
        "\\x00 looks like a NUL",
        "a real NUL \x00 inside",
        "\u202eevil\u202c",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🚀📉",
        "\t\r\n  ",
        "a" * 3000,
    ]
) | st.text(max_size=80)

aware_times = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
) | st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(min_value=-14 * 60 + 1, max_value=14 * 60 - 1),
)
time_texts = aware_times.map(datetime.isoformat) | st.sampled_from(
    [
        "2026-11-28",
        "2026-11-28T10:00:00",
        "yesterday",
        "",
        "2026-13-01T00:00:00Z",
        "0",
        # Valid ISO-8601 that leaves the representable range once moved to UTC.
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ]
)
tickers = st.lists(
    st.sampled_from(["AAPL", "brk-a", "RDS.B", "$TSLA", "TOOLONGSYMBOL", "1ABC", "", "A.BCD"])
    | hostile_text,
    max_size=5,
)


def valid_events() -> st.SearchStrategy[dict[str, Any]]:
    """Events that satisfy the contract (optional fields may still be dropped with a warning)."""
    return st.fixed_dictionaries(
        {
            "source": st.text(min_size=1, max_size=30).filter(_printable_nonblank),
            "published_at": st.datetimes(
                min_value=datetime(2000, 1, 1),
                max_value=datetime(2030, 1, 1),
                timezones=st.just(UTC),
            ).map(datetime.isoformat),
            "headline": st.text(min_size=1, max_size=200).filter(_printable_nonblank),
        },
        optional={
            "id": st.text(min_size=1, max_size=60).filter(_printable_nonblank),
            "body": hostile_text,
            "url": st.sampled_from(["https://example.com/a?b=c", "ftp://x", "not a url"]),
            "tickers": tickers,
            "lang": st.sampled_from(["en", "de", "EN-us", "klingon", "zh-Hant"]),
            "schema_version": st.sampled_from(["1.0", "1.7", "2.0", "1", "x.y"]),
        },
    )


def _printable_nonblank(text: str) -> bool:
    return bool(text.strip()) and "\x00" not in text and not _has_surrogate(text)


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@st.composite
def near_valid_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event with one to three fields broken, removed, retyped or made hostile."""
    event = dict(draw(valid_events()))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        field = draw(st.sampled_from((*REQUIRED, *OPTIONAL, "extra_field")))
        action = draw(st.sampled_from(("drop", "retype", "hostile", "time")))
        if action == "drop":
            event.pop(field, None)
        elif action == "retype":
            event[field] = draw(json_values)
        elif action == "hostile":
            event[field] = draw(hostile_text)
        else:
            event[field] = draw(time_texts)
    return event


def encode(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


@st.composite
def deeply_nested(draw: st.DrawFn) -> bytes:
    """Brackets or objects nested 1..100,000 deep, alone or as a field of a valid event."""
    depth = draw(st.integers(min_value=1, max_value=100_000))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'[{"b":', b"}]")]))
    inner = draw(st.sampled_from([b"1", b"null", b'"x"', b""]))
    nested = opener * depth + inner + closer * draw(st.sampled_from([depth, depth // 2]))
    if not draw(st.booleans()):
        return nested
    event = encode(draw(valid_events()))
    return event[:-1] + b', "extra": ' + nested + b"}"


@st.composite
def huge_numbers(draw: st.DrawFn) -> bytes:
    """Integers of up to 20,000 digits, floats past double range, in any field of an event."""
    digits = draw(st.integers(min_value=1, max_value=20_000))
    number = draw(
        st.sampled_from(
            [
                b"9" * digits,
                b"-" + b"1" * digits,
                b"1e" + str(digits).encode(),
                b"0." + b"0" * digits + b"1",
                b"1" * min(digits, 400) + b".5e-" + str(digits).encode(),
            ]
        )
    )
    field = draw(st.sampled_from((*REQUIRED, *OPTIONAL, "extra")))
    event = draw(valid_events())
    event[field] = "__NUMBER__"
    return encode(event).replace(b'"__NUMBER__"', number)


inbound_messages: st.SearchStrategy[bytes] = st.one_of(
    st.binary(max_size=512),
    json_values.map(encode),
    near_valid_events().map(encode),
    valid_events().map(encode),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    deeply_nested(),
    huge_numbers(),
)


def generate(strategy: st.SearchStrategy[Any], count: int, seed_value: int = 0) -> list[Any]:
    """`count` examples of `strategy`, reproducibly (a fixed seed; no example database)."""
    out: list[Any] = []

    @seed(seed_value)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(strategy)
    def collect(example: Any) -> None:
        out.append(example)

    collect()
    return out
