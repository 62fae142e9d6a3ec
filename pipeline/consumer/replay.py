"""Replaying a file of news as a stream: JSONL events or CSV (finsent columns or stocknet's).

Timestamps are kept (backtests) or rebased so the first event is "now"; pacing is as fast
as possible, a fixed rate, or time-compressed; follow mode keeps reading appended lines.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

STOCKNET_COLUMNS = {"timestamp_utc", "tickers", "tweet_id", "text"}
FOLLOW_POLL_S = 0.5


@dataclass(frozen=True)
class ReplayOptions:
    rebase_to: datetime | None = None
    compression: float | None = None
    rate: float | None = None
    follow: bool = False
    limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("compression", "rate"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"replay {name} must be positive, got {value}")
        if self.rebase_to is not None and self.rebase_to.tzinfo is None:
            raise ConfigError("replay rebase time must be timezone-aware")


@dataclass(frozen=True)
class ReplayEvent:
    """One record to send: its bytes, Kafka key, and when (seconds after the start)."""

    value: bytes
    key: bytes | None
    due_s: float | None


def stocknet_event(row: dict[str, str]) -> dict[str, Any]:
    """A stocknet tweet row as an inbound event (the tweet is the headline)."""
    tickers = [t for t in (row.get("tickers") or "").split(";") if t.strip()]
    return {
        "id": f"stocknet:{row['tweet_id']}",
        "source": "stocknet/twitter",
        "published_at": row["timestamp_utc"],
        "headline": row["text"],
        "tickers": tickers,
    }


def read_rows(path: Path, follow: bool = False) -> Iterator[dict[str, Any] | bytes]:
    """Events as dicts; a JSONL line that is not a JSON object is passed on as raw bytes."""
    if path.suffix.lower() == ".csv":
        yield from _csv_rows(path)
        return
    for line in _lines(path, follow):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            value = None
        yield value if isinstance(value, dict) else line.encode("utf-8")


def _csv_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        stocknet = set(reader.fieldnames or ()) >= STOCKNET_COLUMNS
        for row in reader:
            yield stocknet_event(row) if stocknet else _finsent_row(row)


def _finsent_row(row: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
    if "tickers" in event:
        event["tickers"] = [t for t in event["tickers"].replace(",", ";").split(";") if t]
    return event


def _lines(path: Path, follow: bool) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        pending = ""
        while True:
            chunk = handle.readline()
            if chunk.endswith("\n"):
                yield pending + chunk.rstrip("\r\n")
                pending = ""
            elif chunk:
                pending += chunk
            elif not follow:
                if pending:
                    yield pending
                return
            else:
                time.sleep(FOLLOW_POLL_S)


class ReplaySource:
    """Iterates a file as ReplayEvents, with timestamps and pacing per the options."""

    def __init__(self, path: Path, options: ReplayOptions) -> None:
        if not path.is_file():
            raise ConfigError(f"replay file not found: {path}")
        self._path = path
        self._options = options
        self._first: datetime | None = None

    def __iter__(self) -> Iterator[ReplayEvent]:
        previous_due: float | None = None
        for index, row in enumerate(read_rows(self._path, self._options.follow)):
            if self._options.limit is not None and index >= self._options.limit:
                return
            if isinstance(row, bytes):
                yield ReplayEvent(row, None, previous_due)
                continue
            due = self._due(index, _published(row))
            previous_due = due if due is not None else previous_due
            yield ReplayEvent(_encode(self._retimed(row)), _key(row), due)

    def _due(self, index: int, published: datetime | None) -> float | None:
        if self._options.rate is not None:
            return index / self._options.rate
        if published is None or self._options.compression is None:
            return None
        if self._first is None:
            self._first = published
        return (published - self._first).total_seconds() / self._options.compression

    def _retimed(self, row: dict[str, Any]) -> dict[str, Any]:
        published = _published(row)
        target = self._options.rebase_to
        if published is None or target is None:
            return row
        if self._first is None:
            self._first = published
        offset = (published - self._first) / (self._options.compression or 1.0)
        return {**row, "published_at": (target + offset).isoformat()}


def _published(row: dict[str, Any]) -> datetime | None:
    raw = row.get("published_at")
    if not isinstance(raw, str):
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value if value.tzinfo is not None else None


def _key(row: dict[str, Any]) -> bytes | None:
    tickers = row.get("tickers")
    if isinstance(tickers, list) and tickers and isinstance(tickers[0], str):
        return tickers[0].strip().upper().encode("utf-8")
    source = row.get("source")
    return source.encode("utf-8") if isinstance(source, str) else None


def _encode(row: dict[str, Any]) -> bytes:
    return json.dumps(row, ensure_ascii=False).encode("utf-8")


def pace(
    events: Iterator[ReplayEvent],
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    idle: Callable[[], None] | None = None,
) -> Iterator[ReplayEvent]:
    """Release each event at its due time (waiting in short sleeps, calling `idle` meanwhile)."""
    start = monotonic()
    for event in events:
        while event.due_s is not None and (wait := start + event.due_s - monotonic()) > 0:
            if idle is not None:
                idle()
            sleep(min(wait, 0.01))
        yield event
