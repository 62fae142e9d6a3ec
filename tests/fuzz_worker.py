"""Fuzzed messages through a real classifier worker: each is stored or dead-lettered.

Used by tests/integration/test_fuzz_worker.py (a few hundred) and bench/fuzz.py (thousands).
The expected fate of each message comes from the decoder itself; the worker must agree,
lose none and stay alive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kafka import KafkaProducer
from pydantic import SecretStr
from sqlalchemy import Engine, text

from pipeline.consumer.topics import ensure_topics
from pipeline.settings import DatabaseSettings, KafkaSettings
from pipeline.storage.db import make_engine
from schemas import EventRejected, decode_news_event
from tests.chaos.harness import has_provider
from tests.chaos.observe import DeadLetterTally, await_topic, group_lag
from tests.chaos.stack import Service, process_env, worker_settings

Origin = tuple[str, int, int]


@dataclass
class FuzzOutcome:
    """How `cases` messages fared. `missing`: not where the decoder says they belong (a valid
    one not stored, an invalid one not dead-lettered); `crashes` counts worker exits, those,
    stored ids that no valid message carries, and valid messages both stored and
    dead-lettered (a message counts once)."""

    cases: int = 0
    expected_stored: int = 0
    expected_dead: int = 0
    stored: int = 0
    dead_lettered: int = 0
    dlq_records: int = 0
    dlq_without_reason: int = 0
    wrongly_stored: int = 0
    wrongly_dead: int = 0
    stored_and_dead: int = 0
    missing: list[Origin] = field(default_factory=list)
    missing_examples: list[str] = field(default_factory=list)
    worker_exits: int = 0
    seconds: float = 0.0

    @property
    def crashes(self) -> int:
        return self.worker_exits + len(self.missing) + self.wrongly_stored + self.stored_and_dead


def expected_id(value: bytes | None) -> str | None:
    """The item id the worker must store for `value`, or None if it must dead-letter it."""
    if value is None:
        return None
    try:
        return decode_news_event(value).id
    except EventRejected:
        return None


def produce(bootstrap: str, topic: str, values: Sequence[bytes | None]) -> list[Origin]:
    """Send every value and return where each landed, in order.

    Sent PRODUCE_CHUNK at a time, each flushed before the next: queued all at once, 100,000
    fuzzed records (some of them 100 KB deep nests) sat in the client's buffer past the
    2-minute delivery timeout on a busy machine and expired unsent.
    """
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=1_048_576
    )
    coordinates = []
    for first in range(0, len(values), PRODUCE_CHUNK):
        chunk = values[first : first + PRODUCE_CHUNK]
        # A key on each: Kafka refuses a record with neither key nor value (a keyless tombstone).
        futures = [
            producer.send(topic, key=b"fuzz-%d" % (first + n), value=v) for n, v in enumerate(chunk)
        ]
        producer.flush()
        for future in futures:
            meta = future.get(timeout=60)
            coordinates.append((meta.topic, meta.partition, meta.offset))
    producer.close()
    return coordinates


PRODUCE_CHUNK = 2_000


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text("SELECT id FROM news_items")).scalars())


def run_fuzz_worker(
    values: Sequence[bytes | None],
    bootstrap: str,
    prefix: str,
    db_url: str,
    bundle: Path,
    log_path: Path,
    timeout: float = 300,
) -> FuzzOutcome:
    """Produce `values` to `<prefix>.raw`, run one worker until all are accounted for."""
    started = time.monotonic()
    kafka = KafkaSettings(
        bootstrap=bootstrap,
        raw_topic=f"{prefix}.raw",
        dlq_topic=f"{prefix}.dlq",
        scored_topic=f"{prefix}.scored",
    )
    ensure_topics(kafka)
    await_topic(bootstrap, kafka.raw_topic)
    worker = Service(
        "fuzz-worker",
        "classify",
        process_env(worker_settings(bootstrap, prefix, db_url, bundle)),
        log_path,
    )
    engine = make_engine(DatabaseSettings(url=SecretStr(db_url)))
    tally = DeadLetterTally(bootstrap, kafka.dlq_topic)
    outcome = FuzzOutcome(cases=len(values))
    try:
        worker.start()
        worker.wait_ready(has_provider)
        where = produce(bootstrap, kafka.raw_topic, values)
        wanted = [expected_id(v) for v in values]
        settled = Settled(lambda: group_lag(bootstrap, f"{prefix}-classifier", kafka.raw_topic))
        _await_accounted(worker, engine, tally, where, wanted, outcome, started + timeout, settled)
        _judge(outcome, where, wanted, stored_ids(engine), tally, values)
    finally:
        worker.stop()
        tally.close()
        engine.dispose()
    outcome.seconds = round(time.monotonic() - started, 1)
    return outcome


def _await_accounted(
    worker: Service,
    engine: Engine,
    tally: DeadLetterTally,
    where: list[Origin],
    wanted: list[str | None],
    outcome: FuzzOutcome,
    deadline: float,
    settled: Settled,
) -> None:
    """Until every message is stored or dead-lettered, the deadline, or the worker has
    consumed and committed everything and nothing has changed for SETTLE_S (then what is
    still unaccounted for stays so, and the judge lists it)."""
    while time.monotonic() < deadline:
        if not worker.alive:
            outcome.worker_exits += 1
            worker.stop()
            worker.start()
        tally.refresh()
        ids = stored_ids(engine)
        if all(
            (i is not None and i in ids) or (i is None and w in tally.origins)
            for w, i in zip(where, wanted, strict=True)
        ):
            return
        if settled.still((len(ids), tally.records)):
            return
        time.sleep(1.0)


SETTLE_S = 30.0
MISSING_EXAMPLES = 20


class Settled:
    """True once the consumer lag is 0 and the counts have not moved for SETTLE_S."""

    def __init__(self, lag: Callable[[], int | None]) -> None:
        self._lag = lag
        self._counts: tuple[int, int] | None = None
        self._since = time.monotonic()

    def still(self, counts: tuple[int, int]) -> bool:
        if counts != self._counts or self._lag() != 0:
            self._counts, self._since = counts, time.monotonic()
            return False
        return time.monotonic() - self._since >= SETTLE_S


def _judge(
    outcome: FuzzOutcome,
    where: list[Origin],
    wanted: list[str | None],
    ids: set[str],
    tally: DeadLetterTally,
    values: Sequence[bytes | None],
) -> None:
    dead = tally.origins
    for origin, item_id, value in zip(where, wanted, values, strict=True):
        if item_id is None:
            outcome.expected_dead += 1
            outcome.dead_lettered += origin in dead
        else:
            outcome.expected_stored += 1
            outcome.stored += item_id in ids
            outcome.wrongly_dead += origin in dead
            outcome.stored_and_dead += origin in dead and item_id in ids
        if not ((item_id is not None and item_id in ids) or (item_id is None and origin in dead)):
            outcome.missing.append(origin)
            if len(outcome.missing_examples) < MISSING_EXAMPLES:
                excerpt = None if value is None else value[:160]
                letter = tally.reasons.get(origin, "not dead-lettered")
                outcome.missing_examples.append(
                    f"{origin}: expected id {item_id!r}; dead letter: {letter}; value {excerpt!r}"
                )
    valid_ids = {i for i in wanted if i is not None}
    outcome.wrongly_stored = len(ids - valid_ids)
    outcome.dlq_records = tally.records
    outcome.dlq_without_reason = tally.reasons_missing
