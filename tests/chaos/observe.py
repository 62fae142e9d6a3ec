"""What a chaos run looks at: stored rows, dead letters, consumer lag, alerts, deliveries."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition
from sqlalchemy import Engine, text

from schemas import DeadLetter

Origin = tuple[str | None, int | None, int | None]


@dataclass
class DeadLetterTally:
    """Reads the DLQ topic incrementally; counts records and distinct original coordinates,
    and keeps each origin's kind and reason (the last one read) for reports."""

    bootstrap: str
    topic: str
    records: int = 0
    origins: set[Origin] = field(default_factory=set)
    reasons: dict[Origin, str] = field(default_factory=dict)
    reasons_missing: int = 0
    _consumer: KafkaConsumer | None = None

    def refresh(self) -> None:
        try:
            consumer = self._open()
            for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
                for record in batch:
                    self._count(record.headers or [])
        except KafkaError:
            self.close()  # the broker may be restarting; read again next time

    def _open(self) -> KafkaConsumer:
        if self._consumer is None:
            consumer = KafkaConsumer(
                bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None
            )
            parts = consumer.partitions_for_topic(self.topic) or set()
            consumer.assign([TopicPartition(self.topic, p) for p in parts])
            consumer.seek_to_beginning()
            self._consumer, self.records, self.origins = consumer, 0, set()
            self.reasons, self.reasons_missing = {}, 0
        return self._consumer

    def _count(self, headers: Iterable[tuple[str, bytes]]) -> None:
        letter = DeadLetter.from_headers(list(headers))
        self.records += 1
        origin = (letter.original_topic, letter.original_partition, letter.original_offset)
        self.origins.add(origin)
        self.reasons[origin] = f"{letter.kind}: {letter.reason[:300]}"
        self.reasons_missing += not letter.reason.strip()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        self._consumer = None


def await_topic(bootstrap: str, topic: str, timeout: float = 60) -> None:
    """Return once the brokers report `topic`'s partitions: a consumer that subscribes
    earlier may be assigned nothing until its next metadata refresh (minutes)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    deadline = time.monotonic() + timeout
    try:
        while not consumer.partitions_for_topic(topic):
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic} has no partition metadata after {timeout}s")
            time.sleep(0.2)
            consumer.topics()  # forces a metadata refresh
    finally:
        consumer.close()


def group_lag(bootstrap: str, group: str, topic: str) -> int | None:
    """Sum over partitions of end offset minus committed offset; None if Kafka is away."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    except KafkaError:
        return None
    try:
        committed = admin.list_consumer_group_offsets(group)
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(parts)
        return sum(int(ends[tp]) - (committed[tp].offset if tp in committed else 0) for tp in parts)
    except KafkaError:
        return None
    finally:
        admin.close()
        consumer.close()


@dataclass(frozen=True)
class Storage:
    item_ids: set[str]
    classifications: int
    classified_items: int
    alerts_fired: int
    alerts_open: int
    deliveries: dict[str, str]  # webhook-id → status
    attempts: dict[str, int]  # webhook-id → recorded attempts


def read_storage(engine: Engine) -> Storage:
    with engine.connect() as conn:
        ids: set[str] = set(conn.execute(text("SELECT id FROM news_items")).scalars())
        counts = conn.execute(
            text("SELECT count(*), count(DISTINCT item_id) FROM classifications")
        ).one()
        fired = conn.execute(text("SELECT count(*) FROM alerts WHERE fired_at IS NOT NULL"))
        open_ = conn.execute(
            text("SELECT count(*) FROM alerts WHERE state IN ('pending', 'firing')")
        )
        deliveries = conn.execute(text("SELECT webhook_id, status FROM webhook_deliveries"))
        attempts = conn.execute(
            text(
                "SELECT d.webhook_id, count(a.*) FROM webhook_deliveries d "
                "LEFT JOIN webhook_attempts a ON a.delivery_id = d.id GROUP BY d.webhook_id"
            )
        )
        return Storage(
            ids,
            int(counts[0]),
            int(counts[1]),
            int(fired.scalar_one() or 0),
            int(open_.scalar_one() or 0),
            {str(w): str(s) for w, s in deliveries},
            {str(row[0]): int(row[1]) for row in attempts},
        )
