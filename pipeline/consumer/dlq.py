"""Reading the dead-letter topic back, and sending dead letters through the pipeline again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from pydantic import ValidationError

from pipeline.errors import FinsentError
from pipeline.settings import KafkaSettings
from schemas import DeadLetter

READ_TIMEOUT_MS = 2_000


@dataclass(frozen=True)
class StoredDeadLetter:
    partition: int
    offset: int
    letter: DeadLetter
    value: bytes

    @property
    def where(self) -> str:
        return f"{self.partition}:{self.offset}"


def read_dead_letters(
    kafka: KafkaSettings, since: datetime | None = None, kind: str | None = None
) -> Iterator[StoredDeadLetter]:
    """Every dead letter in the DLQ topic (oldest first per partition), filtered."""
    consumer = KafkaConsumer(
        client_id=f"{kafka.client_id}-dlq-reader",
        enable_auto_commit=False,
        group_id=None,
        **kafka.fetch_options(),
        **kafka.client_options(),
    )
    try:
        partitions = _partitions(consumer, kafka.dlq_topic)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        for record in _until_end(consumer, partitions):
            stored = _parse(record)
            if stored is None or (kind and stored.letter.kind != kind):
                continue
            if since is None or stored.letter.failed_at >= since:
                yield stored
    finally:
        consumer.close()


def _partitions(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    ids = consumer.partitions_for_topic(topic)
    if not ids:
        raise FinsentError(f"dead-letter topic {topic!r} does not exist")
    return [TopicPartition(topic, p) for p in sorted(ids)]


def _until_end(consumer: KafkaConsumer, partitions: list[TopicPartition]) -> Iterator[Any]:
    end = consumer.end_offsets(partitions)
    remaining = {tp for tp in partitions if end[tp] > consumer.position(tp)}
    while remaining:
        batch = consumer.poll(timeout_ms=READ_TIMEOUT_MS)
        if not batch:
            break
        for tp, records in batch.items():
            yield from (r for r in records if r.offset < end[tp])
            if consumer.position(tp) >= end[tp]:
                remaining.discard(tp)


def _parse(record: Any) -> StoredDeadLetter | None:
    headers = [(k, v) for k, v in (record.headers or []) if v is not None]
    try:
        letter = DeadLetter.from_headers(headers)
    except ValidationError:
        return None
    return StoredDeadLetter(record.partition, record.offset, letter, record.value or b"")


def patched(value: bytes, patch: dict[str, Any] | None) -> bytes:
    """The original bytes, or the original JSON object with `patch` merged into it."""
    if not patch:
        return value
    try:
        original = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FinsentError(f"cannot patch a dead letter that is not JSON: {e}") from e
    if not isinstance(original, dict):
        raise FinsentError("cannot patch a dead letter that is not a JSON object")
    return json.dumps({**original, **patch}, ensure_ascii=False).encode("utf-8")
