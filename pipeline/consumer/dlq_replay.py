"""Replaying dead letters once: fixes for letters that are not JSON, and a ledger of replays.

A replayed record carries headers naming its DLQ letter and the original coordinates, so a
replay that bounces is dead-lettered with the original's topic/partition/offset, not its own.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from kafka import KafkaProducer
from kafka.errors import KafkaError
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from pipeline.consumer.decode import REPLAY_OF_HEADER, REPLAY_ORIGINAL_HEADER
from pipeline.consumer.dlq import StoredDeadLetter, patched
from pipeline.errors import FinsentError, StorageError
from pipeline.settings import KafkaSettings
from pipeline.storage.dlq_tables import DlqReplayRow

BOM = b"\xef\xbb\xbf"
SEND_TIMEOUT_S = 30


class NotReplayableError(FinsentError):
    """A letter that would only bounce again as it is; the reason says how to fix it."""


@dataclass(frozen=True)
class ValueFix:
    """What to do to a letter's bytes before sending it again, in this order."""

    strip_bom: bool = False
    fix_encoding: bool = False
    replace: tuple[str, str] | None = None
    patch: dict[str, Any] | None = None

    def describe(self) -> str:
        steps = [
            name
            for name, on in (
                ("strip-bom", self.strip_bom),
                ("fix-encoding", self.fix_encoding),
                ("replace", self.replace is not None),
                ("patch", bool(self.patch)),
            )
            if on
        ]
        return "+".join(steps) or "as-is"

    def apply(self, value: bytes) -> bytes:
        """The bytes to send; NotReplayableError when they still are not a JSON document."""
        if self.strip_bom:
            value = value.removeprefix(BOM)
        if self.fix_encoding:
            value = to_utf8(value)
        if self.replace is not None:
            value = _text(value).replace(*self.replace).encode("utf-8")
        problem = json_problem(value)
        if problem is not None:
            raise NotReplayableError(problem)
        return patched(value, self.patch)


def to_utf8(value: bytes) -> bytes:
    """UTF-8 bytes from a producer's Windows-1252 (else Latin-1) text; UTF-8 stays as it is."""
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            return value.decode(encoding).encode("utf-8")
        except UnicodeDecodeError:
            continue
    raise NotReplayableError("not text in any encoding tried")  # latin-1 decodes anything


def json_problem(value: bytes) -> str | None:
    """Why these bytes cannot be replayed as they are (with the fix to use), or None."""
    if value.startswith(BOM):
        return "starts with a UTF-8 BOM (fix: --strip-bom)"
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 (fix: --fix-encoding)"
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return "not JSON (fix: --replace OLD NEW, or --strip-bom / --fix-encoding)"
    return None


def _text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NotReplayableError("not UTF-8 (fix: --fix-encoding)") from e


@dataclass(frozen=True)
class ReplayRecord:
    replayed_at: datetime
    replays: int
    sent_as: str
    sent_to: str

    def describe(self) -> str:
        return f"{self.replayed_at.isoformat(timespec='seconds')} {self.sent_as} → {self.sent_to}"


class ReplayLedger(Protocol):
    """Which letters of a DLQ topic were replayed; raises StorageError on failure."""

    def replayed(self, dlq_topic: str) -> dict[tuple[int, int], ReplayRecord]:
        """Replay records by the letter's (partition, offset)."""
        ...

    def record(
        self, dlq_topic: str, stored: StoredDeadLetter, sent_as: str, sent: tuple[str, int, int]
    ) -> None:
        """Note one more send of the letter, as `sent_as`, to (topic, partition, offset)."""
        ...


class SqlReplayLedger:
    """The ledger in the `dlq_replays` table."""

    def __init__(self, engine: Engine, now: Callable[[], datetime]) -> None:
        self._engine = engine
        self._now = now

    def replayed(self, dlq_topic: str) -> dict[tuple[int, int], ReplayRecord]:
        query = select(DlqReplayRow).where(DlqReplayRow.dlq_topic == dlq_topic)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as e:
            raise StorageError(f"cannot read the replay ledger: {_first_line(e)}") from e
        return {
            (r.dlq_partition, r.dlq_offset): ReplayRecord(
                r.replayed_at,
                r.replays,
                r.sent_as,
                f"{r.sent_topic}[{r.sent_partition}]@{r.sent_offset}",
            )
            for r in rows
        }

    def record(
        self, dlq_topic: str, stored: StoredDeadLetter, sent_as: str, sent: tuple[str, int, int]
    ) -> None:
        letter = stored.letter
        row = {
            "dlq_topic": dlq_topic,
            "dlq_partition": stored.partition,
            "dlq_offset": stored.offset,
            "original_topic": letter.original_topic,
            "original_partition": letter.original_partition,
            "original_offset": letter.original_offset,
            "replays": 1,
            "replayed_at": self._now(),
            "sent_as": sent_as,
            "sent_topic": sent[0],
            "sent_partition": sent[1],
            "sent_offset": sent[2],
        }
        insert = (postgresql if self._engine.dialect.name == "postgresql" else sqlite).insert
        statement = insert(DlqReplayRow).values(row)
        latest = {k: statement.excluded[k] for k in ("replayed_at", "sent_as", "sent_topic")}
        latest |= {k: statement.excluded[k] for k in ("sent_partition", "sent_offset")}
        statement = statement.on_conflict_do_update(
            index_elements=["dlq_topic", "dlq_partition", "dlq_offset"],
            set_={**latest, "replays": DlqReplayRow.replays + 1},
        )
        try:
            with self._engine.begin() as conn:
                conn.execute(statement)
        except SQLAlchemyError as e:
            raise StorageError(f"cannot record a replay: {_first_line(e)}") from e


def skip_reason(stored: StoredDeadLetter, record: ReplayRecord | None, again: bool) -> str | None:
    """Why a letter is not sent this time (a short category), or None to send it."""
    letter = stored.letter
    if not letter.replayable:
        return "not replayable (truncated)"
    if again:
        return None
    if record is not None:
        return "already replayed (use --again)"
    if letter.replay_of is not None:
        return "bounced replays (use --again)"
    if letter.kind == "poison":
        return "poison, killed the worker (use --again)"
    return None


@dataclass
class ReplayOutcome:
    sent: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def skip(self, why: str) -> None:
        self.skipped[why] += 1


class ReplaySender(Protocol):
    def send(self, stored: StoredDeadLetter, value: bytes) -> tuple[str, int, int]:
        """Send the fixed value of a letter to the raw topic; where it landed."""
        ...


def replay_dead_letters(
    letters: Iterable[StoredDeadLetter],
    fix: ValueFix,
    ledger: ReplayLedger,
    sender: ReplaySender,
    dlq_topic: str,
    again: bool = False,
) -> ReplayOutcome:
    """Send each letter that is due back to the raw topic, once; record each send."""
    done = ledger.replayed(dlq_topic)
    outcome = ReplayOutcome()
    for stored in letters:
        why = skip_reason(stored, done.get((stored.partition, stored.offset)), again)
        try:
            value = fix.apply(stored.value) if why is None else b""
        except FinsentError as e:  # NotReplayableError, or a patch of a non-object
            why = f"not replayable: {e}"
        if why is not None:
            outcome.skip(why)
            continue
        ledger.record(dlq_topic, stored, fix.describe(), sender.send(stored, value))
        outcome.sent += 1
    return outcome


class KafkaReplaySender:
    """Sends with headers naming the DLQ letter and the original coordinates (its lineage)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._producer = KafkaProducer(
            client_id=f"{kafka.client_id}-dlq-replay", acks="all", **kafka.client_options()
        )

    def close(self) -> None:
        self._producer.close(timeout=10)

    def send(self, stored: StoredDeadLetter, value: bytes) -> tuple[str, int, int]:
        letter, raw_topic = stored.letter, self._kafka.raw_topic
        original = (
            f"{letter.original_topic or ''}:{letter.original_partition}:{letter.original_offset}"
        )
        headers = [
            (REPLAY_OF_HEADER, f"{self._kafka.dlq_topic}:{stored.where}".encode()),
            (REPLAY_ORIGINAL_HEADER, original.encode()),
        ]
        key = letter.original_key.encode("utf-8") if letter.original_key else None
        try:
            future = self._producer.send(raw_topic, value=value, key=key, headers=headers)
            meta = future.get(timeout=SEND_TIMEOUT_S)
        except KafkaError as e:
            raise FinsentError(f"replay of DLQ letter {stored.where} not sent: {e}") from e
        return raw_topic, int(meta.partition), int(meta.offset)


def _first_line(error: Exception) -> str:
    return str(error).splitlines()[0][:300]
