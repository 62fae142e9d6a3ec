"""The inbound news event (topic `news.raw`): the contract with producers (DESIGN §3)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

SCHEMA_MAJOR = 1
SCHEMA_MINOR = 0
DEFAULT_MAX_EVENT_BYTES = 262_144
# Arrays and objects inside one another (the event itself is the first level). A fixed limit:
# the parser's own one is the stack left at the call, so one message would pass here and fail
# there.
MAX_JSON_DEPTH = 64
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
SYMBOL_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{0,5}([.-][A-Z0-9]{1,2})?$")
_VERSION_PATTERN = re.compile(r"^(\d+)\.(\d+)$")
_LANG_PATTERN = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_URL_PATTERN = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
MAX_ID_CHARS = 256
MAX_HEADLINE_CHARS = 2_000


class EventRejected(ValueError):  # noqa: N818 - the event is rejected; callers say why
    """The bytes are not a valid NewsEvent; `reason` is readable by a person."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def normalize_symbol(raw: str) -> str | None:
    """The upper-cased symbol if it matches the symbol pattern, else None."""
    symbol = raw.strip().lstrip("$").upper()
    return symbol if SYMBOL_PATTERN.match(symbol) else None


def derive_event_id(source: str, url: str | None, headline: str, published_at: datetime) -> str:
    """The id of an event whose producer sent none: a hash of what makes it this event."""
    basis = "\x1f".join((source, url or "", headline, published_at.isoformat()))
    return "h:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]


class NewsEvent(BaseModel):
    """One item of news; invalid optional fields are dropped into `warnings`, never guessed."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    id: str = Field("", max_length=MAX_ID_CHARS, description="Stable producer id")
    source: str = Field(..., min_length=1, max_length=200, description="Publisher or feed")
    published_at: AwareDatetime = Field(..., description="Timezone-aware ISO-8601")
    headline: str = Field(
        ..., min_length=1, max_length=MAX_HEADLINE_CHARS, description="Title or post text"
    )
    body: str | None = Field(None, description="Article text; stored up to the size limit")
    url: str | None = Field(None, description="Link to the item")
    tickers: tuple[str, ...] = Field((), description="Producer-given symbols")
    lang: str = Field("en", description="ISO 639 language code")
    schema_version: str = Field(f"{SCHEMA_MAJOR}.{SCHEMA_MINOR}", description="major.minor")
    warnings: tuple[str, ...] = Field((), description="Optional fields dropped, and why")

    @field_validator("source", "headline", "id", "body", mode="before")
    @classmethod
    def _text_only(cls, v: Any, info: ValidationInfo) -> Any:
        optional = info.field_name in ("id", "body")
        if (v is not None or not optional) and not isinstance(v, str):
            raise ValueError(f"must be a string, got {json_type(v)}")
        if isinstance(v, str) and "\x00" in v:
            raise ValueError("contains a NUL byte")
        return v

    @field_validator("source", "headline")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        # Python counts more characters as space (\x1c-\x1f) than pydantic's stripping does.
        if not v.strip():
            raise ValueError("is blank")
        return v

    @field_validator("published_at")
    @classmethod
    def _representable_in_utc(cls, v: datetime) -> datetime:
        # Stored and compared in UTC: year 1 at +01:00 would become a BC date there.
        try:
            v.astimezone(UTC)
        except OverflowError as e:
            raise ValueError("published_at is out of range once converted to UTC") from e
        return v

    @field_validator("schema_version", mode="before")
    @classmethod
    def _version_text(cls, v: Any) -> Any:
        # A bare number names a major version: 999 is unsupported, 1 is 1.0, 1.2 is 1.2.
        if isinstance(v, bool) or not isinstance(v, str | int | float):
            raise ValueError(f'must be a "major.minor" string, got {json_type(v)}')
        if isinstance(v, int):
            return f"{v}.0"
        return str(v)

    @field_validator("schema_version")
    @classmethod
    def _known_major(cls, v: str) -> str:
        match = _VERSION_PATTERN.match(v)
        if not match:
            raise ValueError(f"schema_version {v!r} is not major.minor")
        if int(match.group(1)) != SCHEMA_MAJOR:
            raise ValueError(f"unsupported schema major version {match.group(1)}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _drop_invalid_optionals(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"an event is a JSON object, got {json_type(data)}")
        data = dict(data)
        warnings = [w for w in data.get("warnings") or () if isinstance(w, str)]
        for check in (_check_url, _check_lang, _check_tickers, _check_body):
            check(data, warnings)
        for name in ("id",):
            if data.get(name) is None:
                data.pop(name, None)
        data["warnings"] = tuple(warnings)
        return data

    @model_validator(mode="after")
    def _identity(self) -> NewsEvent:
        if not self.id:
            derived = derive_event_id(self.source, self.url, self.headline, self.published_at)
            object.__setattr__(self, "id", derived)
        return self

    @property
    def is_english(self) -> bool:
        return self.lang.split("-")[0] == "en"


def _check_url(data: dict[str, Any], warnings: list[str]) -> None:
    url = data.get("url")
    if url is None or (isinstance(url, str) and _URL_PATTERN.match(url.strip())):
        return
    warnings.append(f"url dropped: not an http(s) URL ({str(url)[:80]!r})")
    data["url"] = None


def _check_lang(data: dict[str, Any], warnings: list[str]) -> None:
    lang = data.get("lang")
    if lang is None:
        data.pop("lang", None)
    elif isinstance(lang, str) and _LANG_PATTERN.match(lang.strip().lower()):
        data["lang"] = lang.strip().lower()
    else:
        warnings.append(f"lang dropped: not a language code ({str(lang)[:20]!r})")
        data["lang"] = "und"


def _check_tickers(data: dict[str, Any], warnings: list[str]) -> None:
    raw = data.get("tickers")
    if raw is None:
        data.pop("tickers", None)
        return
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        warnings.append(f"tickers dropped: expected an array, got {json_type(raw)}")
        data["tickers"] = ()
        return
    kept: list[str] = []
    for item in raw:
        symbol = normalize_symbol(item) if isinstance(item, str) else None
        if symbol is None:
            warnings.append(f"ticker dropped: {str(item)[:20]!r} is not a symbol")
        elif symbol not in kept:
            kept.append(symbol)
    data["tickers"] = tuple(kept)


def _check_body(data: dict[str, Any], warnings: list[str]) -> None:
    body = data.get("body")
    if body is not None and not isinstance(body, str):
        warnings.append(f"body dropped: expected a string, got {json_type(body)}")
        data["body"] = None
    elif isinstance(body, str) and "\x00" in body:
        warnings.append("body: NUL bytes removed")
        data["body"] = body.replace("\x00", "")


def decode_news_event(raw: bytes, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> NewsEvent:
    """Bytes from the wire → a NewsEvent, or EventRejected with a specific, readable reason."""
    if len(raw) > max_bytes:
        raise EventRejected(
            f"event is {len(raw)} bytes, over the {max_bytes}-byte limit", "oversize"
        )
    if not raw.strip():
        raise EventRejected("empty message", "empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise EventRejected(f"not UTF-8: invalid byte at position {e.start}", "encoding") from e
    openers = text.count("[") + text.count("{")  # the depth's bound: most events stop here
    if openers > MAX_JSON_DEPTH and (depth := nesting_depth(text)) > MAX_JSON_DEPTH:
        raise EventRejected(
            f"malformed JSON: nested {depth} levels deep, over the limit of {MAX_JSON_DEPTH}",
            "json",
        )
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except EventRejected:
        raise
    except json.JSONDecodeError as e:
        raise EventRejected(
            f"malformed JSON: {e.msg} (line {e.lineno}, column {e.colno})", "json"
        ) from e
    except RecursionError as e:  # a backstop: the depth limit keeps the parser off the stack's end
        raise EventRejected("malformed JSON: nested deeper than the parser allows", "json") from e
    except ValueError as e:
        # e.g. an integer of more digits than Python converts (sys.get_int_max_str_digits).
        raise EventRejected(f"malformed JSON: {e}", "json") from e
    return validate_news_event(data)


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON text, brackets inside strings aside."""
    brackets = _NOT_A_BRACKET.sub("", _STRING_LITERAL.sub("", text))
    return max(accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Last-one-wins would let one message carry two identities ({"id": "a", "id": "b"}).
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise EventRejected(f"duplicate key {key[:80]!r} in a JSON object", "duplicate_key")
        obj[key] = value
    return obj


_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (type(None), "null"),
    (bool, "boolean"),
    (int, "number"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (tuple, "array"),
    (dict, "object"),
)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (null, not NoneType), as a user would say it."""
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def validate_news_event(data: Any) -> NewsEvent:
    """A decoded JSON value → a NewsEvent, or EventRejected naming each bad field."""
    try:
        return NewsEvent.model_validate(data)
    except ValidationError as e:
        raise EventRejected(_describe(e), _kind(e)) from e


def _describe(e: ValidationError) -> str:
    parts = []
    for err in e.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "event"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


def _kind(e: ValidationError) -> str:
    first = e.errors()[0]
    if "schema_version" in first["loc"]:
        return "schema_version"
    return "missing_field" if first["type"] == "missing" else "invalid_field"


def news_event_json_schema() -> dict[str, Any]:
    """The JSON Schema of the inbound event, as written to schemas/news_event.schema.json."""
    schema = NewsEvent.model_json_schema()
    schema["properties"].pop("warnings", None)
    schema["$id"] = "https://finsent.dev/schemas/news_event.schema.json"
    schema["description"] = (
        f"finsent inbound news event, schema {SCHEMA_MAJOR}.{SCHEMA_MINOR}; unknown fields are "
        "ignored, an unknown major version is rejected; at most "
        f"{DEFAULT_MAX_EVENT_BYTES} bytes of UTF-8 JSON, nested at most {MAX_JSON_DEPTH} deep."
    )
    return schema
