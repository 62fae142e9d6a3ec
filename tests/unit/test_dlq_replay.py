"""Dead letters replay once: fixes for non-JSON letters, the replay ledger, lineage of bounces."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from pipeline.clock import WallClock
from pipeline.consumer.decode import (
    REPLAY_OF_HEADER,
    REPLAY_ORIGINAL_HEADER,
    Lineage,
    RawRecord,
    dead_letter,
)
from pipeline.consumer.dlq import StoredDeadLetter
from pipeline.consumer.dlq_replay import (
    NotReplayableError,
    ReplayRecord,
    SqlReplayLedger,
    ValueFix,
    replay_dead_letters,
    skip_reason,
)
from pipeline.items.scored import Coordinates
from pipeline.settings import EventSettings
from pipeline.storage import dlq_tables  # noqa: F401 - registers the table for create_all
from schemas import DeadLetter, EventRejected
from tests.unit.stream_fakes import T0, sqlite_memory_engine

GOOD = json.dumps({"source": "wire", "headline": "h", "published_at": T0.isoformat()}).encode()


def stored(
    value: bytes = GOOD, offset: int = 0, kind: str = "missing_field", **fields: object
) -> StoredDeadLetter:
    letter = DeadLetter.model_validate(
        {
            "reason": "why",
            "kind": kind,
            "original_topic": "news.raw",
            "original_partition": 2,
            "original_offset": 40 + offset,
            "size": len(value),
            "sha256": hashlib.sha256(value).hexdigest(),
            "failed_at": T0,
            **fields,
        }
    )
    return StoredDeadLetter(0, offset, letter, value)


@pytest.mark.parametrize(
    ("value", "fix", "expected"),
    [
        pytest.param(GOOD, ValueFix(), GOOD, id="JSON as it is"),
        pytest.param(b"\xef\xbb\xbf" + GOOD, ValueFix(strip_bom=True), GOOD, id="BOM stripped"),
        pytest.param(
            b'{"headline": "Caf\xe9"}',
            ValueFix(fix_encoding=True),
            '{"headline": "Café"}'.encode(),
            id="Windows-1252 made UTF-8",
        ),
        pytest.param(
            b"{'source': 'wire'}",
            ValueFix(replace=("'", '"')),
            b'{"source": "wire"}',
            id="raw-text patch",
        ),
        pytest.param(
            b'{"a": 1}', ValueFix(patch={"b": 2}), b'{"a": 1, "b": 2}', id="JSON patch merged"
        ),
    ],
)
def test_fixes_make_a_letter_json(value: bytes, fix: ValueFix, expected: bytes) -> None:
    assert fix.apply(value) == expected


@pytest.mark.parametrize(
    ("value", "fix", "hint"),
    [
        pytest.param(b"\xef\xbb\xbf" + GOOD, ValueFix(), "--strip-bom", id="BOM without the fix"),
        pytest.param(b'{"h": "\xe9"}', ValueFix(), "--fix-encoding", id="not UTF-8"),
        pytest.param(b"{oops", ValueFix(strip_bom=True), "--replace", id="still not JSON"),
        pytest.param(b"[" * 5000, ValueFix(), "not JSON", id="nested past the parser"),
    ],
)
def test_a_letter_that_would_bounce_says_how_to_fix_it(
    value: bytes, fix: ValueFix, hint: str
) -> None:
    with pytest.raises(NotReplayableError, match=hint.replace("-", r"\-")):
        fix.apply(value)


RECORD = ReplayRecord(T0, 1, "as-is", "news.raw[1]@9")


@pytest.mark.parametrize(
    ("letter", "record", "again", "reason"),
    [
        pytest.param(stored(), None, False, None, id="never replayed: send"),
        pytest.param(stored(), RECORD, False, "already replayed", id="replayed: skip"),
        pytest.param(stored(), RECORD, True, None, id="replayed, --again: send"),
        pytest.param(stored(replay_of="news.dlq:0:3"), None, False, "bounced", id="a bounce: skip"),
        pytest.param(stored(kind="poison"), None, False, "poison", id="poison: skip"),
        pytest.param(
            stored(truncated=True, replayable=False), None, True, "truncated", id="truncated"
        ),
    ],
)
def test_skip_reason(
    letter: StoredDeadLetter, record: ReplayRecord | None, again: bool, reason: str | None
) -> None:
    why = skip_reason(letter, record, again)
    assert (why is None) if reason is None else (why is not None and reason in why)


class FakeSender:
    def __init__(self) -> None:
        self.sent: list[tuple[StoredDeadLetter, bytes]] = []

    def send(self, stored: StoredDeadLetter, value: bytes) -> tuple[str, int, int]:
        self.sent.append((stored, value))
        return "news.raw", 1, len(self.sent) - 1


def test_replay_run_twice_sends_each_letter_once_and_again_resends() -> None:
    ledger = SqlReplayLedger(sqlite_memory_engine(), lambda: datetime.now(UTC))
    letters = [
        stored(GOOD, 0),
        stored(b"\xef\xbb\xbf" + GOOD, 1, kind="json"),
        stored(GOOD, 2, replay_of="news.dlq:0:0"),
        stored(GOOD, 3),
    ]
    sender = FakeSender()
    first = replay_dead_letters(letters, ValueFix(), ledger, sender, "news.dlq")
    second = replay_dead_letters(letters, ValueFix(), ledger, sender, "news.dlq")
    assert [s.offset for s, _ in sender.sent] == [0, 3]
    assert (first.sent, second.sent) == (2, 0)
    assert second.skipped["already replayed (use --again)"] == 2
    assert any("--strip-bom" in why for why in second.skipped)
    fixed = replay_dead_letters(letters[1:2], ValueFix(strip_bom=True), ledger, sender, "news.dlq")
    assert fixed.sent == 1
    assert sender.sent[-1][1] == GOOD
    again = replay_dead_letters(letters[:1], ValueFix(), ledger, sender, "news.dlq", again=True)
    assert again.sent == 1
    done = ledger.replayed("news.dlq")
    assert set(done) == {(0, 0), (0, 1), (0, 3)}
    assert (done[(0, 0)].replays, done[(0, 1)].sent_as) == (2, "strip-bom")
    assert done[(0, 0)].sent_to == "news.raw[1]@3", "the latest send"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param((), Lineage(None, "news.raw", 5, 77), id="first delivery: its own place"),
        pytest.param(
            ((REPLAY_OF_HEADER, b"news.dlq:0:3"), (REPLAY_ORIGINAL_HEADER, b"news.raw:2:41")),
            Lineage("news.dlq:0:3", "news.raw", 2, 41),
            id="a replay: the original's place",
        ),
        pytest.param(
            ((REPLAY_OF_HEADER, b"news.dlq:0:3"), (REPLAY_ORIGINAL_HEADER, b"garbage")),
            Lineage(None, "news.raw", 5, 77),
            id="malformed lineage: its own place",
        ),
    ],
)
def test_lineage_of_a_record(headers: tuple[tuple[str, bytes], ...], expected: Lineage) -> None:
    raw = RawRecord(b"{}", Coordinates("news.raw", 5, 77), headers)
    assert Lineage.of(raw) == expected


def test_a_bounced_replay_keeps_the_original_coordinates() -> None:
    headers = ((REPLAY_OF_HEADER, b"news.dlq:0:3"), (REPLAY_ORIGINAL_HEADER, b"news.raw:2:41"))
    raw = RawRecord(b"{oops", Coordinates("news.raw", 5, 77), headers)
    letter = dead_letter(raw, EventRejected("bad", "json"), EventSettings(), WallClock()).letter
    place = (letter.original_topic, letter.original_partition, letter.original_offset)
    assert place == ("news.raw", 2, 41)
    assert letter.replay_of == "news.dlq:0:3"
    assert DeadLetter.from_headers(letter.to_headers()).replay_of == "news.dlq:0:3"
