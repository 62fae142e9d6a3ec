from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.consumer.replay import ReplayEvent, ReplayOptions, ReplaySource, pace
from pipeline.errors import ConfigError
from schemas import decode_news_event

STOCKNET = (
    "timestamp_utc,tickers,tweet_id,text\n"
    "2014-01-02T15:45:00Z,AAPL;GOOG,111,$AAPL rises on iPhone sales\n"
    '2014-01-02T15:45:10Z,D,112,"Donaremos U$D 25.000, gracias"\n'
    "2014-01-02T15:46:00Z,FB,113,Facebook falls\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def decoded(events: list[ReplayEvent]) -> list[dict[str, object]]:
    return [json.loads(e.value) for e in events]


def test_stocknet_rows_become_valid_events(tmp_path: Path) -> None:
    events = list(ReplaySource(write(tmp_path, "s.csv", STOCKNET), ReplayOptions()))
    first = decode_news_event(events[0].value)
    assert first.id == "stocknet:111"
    assert first.headline == "$AAPL rises on iPhone sales"
    assert first.tickers == ("AAPL", "GOOG")
    assert first.published_at == datetime(2014, 1, 2, 15, 45, tzinfo=UTC)
    assert [e.key for e in events] == [b"AAPL", b"D", b"FB"]
    assert [e.due_s for e in events] == [None, None, None]


@pytest.mark.parametrize(
    ("options", "due", "published"),
    [
        pytest.param(
            ReplayOptions(),
            [None, None, None],
            ["2014-01-02T15:45:00Z", "2014-01-02T15:45:10Z", "2014-01-02T15:46:00Z"],
            id="original timestamps, as fast as possible",
        ),
        pytest.param(
            ReplayOptions(compression=10),
            [0.0, 1.0, 6.0],
            ["2014-01-02T15:45:00Z", "2014-01-02T15:45:10Z", "2014-01-02T15:46:00Z"],
            id="time-compressed pacing keeps timestamps",
        ),
        pytest.param(
            ReplayOptions(rebase_to=datetime(2026, 1, 1, tzinfo=UTC)),
            [None] * 3,
            ["2026-01-01T00:00:00+00:00", "2026-01-01T00:00:10+00:00", "2026-01-01T00:01:00+00:00"],
            id="rebased so the first is the target",
        ),
        pytest.param(
            ReplayOptions(rebase_to=datetime(2026, 1, 1, tzinfo=UTC), compression=10),
            [0.0, 1.0, 6.0],
            ["2026-01-01T00:00:00+00:00", "2026-01-01T00:00:01+00:00", "2026-01-01T00:00:06+00:00"],
            id="rebased and compressed together",
        ),
        pytest.param(
            ReplayOptions(rate=4),
            [0.0, 0.25, 0.5],
            ["2014-01-02T15:45:00Z", "2014-01-02T15:45:10Z", "2014-01-02T15:46:00Z"],
            id="fixed rate",
        ),
    ],
)
def test_timing(
    tmp_path: Path, options: ReplayOptions, due: list[float | None], published: list[str]
) -> None:
    events = list(ReplaySource(write(tmp_path, "s.csv", STOCKNET), options))
    assert [e.due_s for e in events] == due
    assert [d["published_at"] for d in decoded(events)] == published


def test_jsonl_keeps_bad_lines_as_bytes_for_the_dead_letter_queue(tmp_path: Path) -> None:
    lines = [
        json.dumps(
            {
                "id": "a",
                "source": "wire",
                "published_at": "2026-01-01T00:00:00Z",
                "headline": "x",
                "tickers": ["msft"],
            }
        ),
        "{not json",
        "",
        "[1, 2]",
    ]
    events = list(ReplaySource(write(tmp_path, "e.jsonl", "\n".join(lines)), ReplayOptions()))
    assert [e.value for e in events[1:]] == [b"{not json", b"[1, 2]"]
    assert events[0].key == b"MSFT"


def test_limit_stops_early(tmp_path: Path) -> None:
    source = ReplaySource(write(tmp_path, "s.csv", STOCKNET), ReplayOptions(limit=2))
    assert len(list(source)) == 2


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"compression": 0}, id="zero compression"),
        pytest.param({"rate": -1}, id="negative rate"),
        pytest.param({"rebase_to": datetime(2026, 1, 1)}, id="naive rebase time"),
    ],
)
def test_invalid_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ReplayOptions(**options)  # type: ignore[arg-type]


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        ReplaySource(tmp_path / "nope.csv", ReplayOptions())


def test_pace_waits_until_each_event_is_due() -> None:
    now = [0.0]
    released: list[float] = []

    def sleep(seconds: float) -> None:
        now[0] += seconds

    events = [
        ReplayEvent(b"a", None, 0.0),
        ReplayEvent(b"b", None, 0.5),
        ReplayEvent(b"c", None, None),
    ]
    for _ in pace(iter(events), monotonic=lambda: now[0], sleep=sleep):
        released.append(round(now[0], 6))
    assert released == [0.0, 0.5, 0.5]
