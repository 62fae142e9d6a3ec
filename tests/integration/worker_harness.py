"""Running real classifier workers in subprocesses against the real Kafka and Postgres."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition
from sqlalchemy import create_engine, text

from pipeline.consumer.topics import ensure_topics
from pipeline.settings import KafkaSettings

REPO = Path(__file__).resolve().parents[2]
CLI = "from workers.cli import main; main()"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
_METRIC = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([-+0-9.eEinfNa]+)$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """One test's topics, group, database and bundle, as worker environment."""

    bootstrap: str
    prefix: str
    db_url: str
    bundle: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def raw(self) -> str:
        return f"{self.prefix}.raw"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    @property
    def scored(self) -> str:
        return f"{self.prefix}.scored"

    @property
    def group(self) -> str:
        return f"{self.prefix}-classifier"

    def kafka_settings(self) -> KafkaSettings:
        return KafkaSettings(
            bootstrap=self.bootstrap,
            raw_topic=self.raw,
            dlq_topic=self.dlq,
            scored_topic=self.scored,
            group=self.group,
        )

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
        env.update(
            {
                "FINSENT_CACHE_DIR": os.environ.get(
                    "FINSENT_CACHE_DIR", str(Path.home() / ".cache/finsent")
                ),
                "FINSENT_KAFKA__BOOTSTRAP": self.bootstrap,
                "FINSENT_KAFKA__RAW_TOPIC": self.raw,
                "FINSENT_KAFKA__DLQ_TOPIC": self.dlq,
                "FINSENT_KAFKA__SCORED_TOPIC": self.scored,
                "FINSENT_KAFKA__GROUP": self.group,
                "FINSENT_KAFKA__SESSION_TIMEOUT_MS": "6000",
                "FINSENT_KAFKA__HEARTBEAT_INTERVAL_MS": "1000",
                "FINSENT_KAFKA__MAX_POLL_INTERVAL_MS": "30000",
                "FINSENT_DATABASE__URL": self.db_url,
                "FINSENT_MODEL__BUNDLE": str(self.bundle),
                "FINSENT_MODEL__INTRA_OP_THREADS": "1",
                "FINSENT_CLASSIFIER__REVOKE_TIMEOUT_S": "3",
                "FINSENT_CLASSIFIER__RETRY_BACKOFF_MAX_S": "1",
                "FINSENT_LOG_FORMAT": "text",
                "PYTHONPATH": str(REPO),
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra)
        env.update(overrides)
        return env

    def ensure_topics(self) -> None:
        ensure_topics(self.kafka_settings())


class MetricsNotUpError(Exception):
    """The worker's metrics endpoint does not answer yet."""


class Worker:
    """`finsent worker classify` in a subprocess, with its metrics and log at hand; with
    `faults` (tests/faulty_worker.py's arguments), the same worker with faults in its chain."""

    def __init__(
        self, stack: Stack, log_path: Path, faults: Sequence[str] = (), **env: str
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        self._log = log_path.open("ab")
        module = ["tests.faulty_worker", *faults] if faults else ["workers.classifier"]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *module],
            cwd=REPO,
            env=stack.env(FINSENT_METRICS_PORT=str(self.port), **env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def metrics(self) -> dict[str, float]:
        """Sample values by `name{labels}`; empty while the endpoint is not up."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as r:
                body = r.read().decode()
        except OSError:
            return {}
        values: dict[str, float] = {}
        for line in body.splitlines():
            match = _METRIC.match(line)
            if match:
                values[match.group(1) + (match.group(2) or "")] = float(match.group(3))
        return values

    def metric(self, name: str) -> float:
        """One sample's value; raises while the endpoint is not up (never a silent 0)."""
        metrics = self.metrics()
        if not metrics:
            raise MetricsNotUpError(self.port)
        return metrics.get(name, 0.0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, what: str, check: Callable[[], bool], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except MetricsNotUpError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"worker exited ({self.proc.returncode}) waiting for {what}:\n{self.log()[-3000:]}"
                )
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-3000:]}")

    def committed(self) -> float:
        return self.metric("finsent_classifier_committed_messages_total")

    def terminate(self, timeout: float = 40) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill9(self) -> int:
        self.proc.send_signal(signal.SIGKILL)
        return self.wait(10)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def stop_quietly(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


def news(ident: str, headline: str, **fields: Any) -> bytes:
    event = {"id": ident, "source": "wire", "published_at": T0.isoformat(), "headline": headline}
    event.update(fields)
    return json.dumps(event).encode()


def stream_of(count: int, reprints: int, tag: str = "") -> list[tuple[str, bytes]]:
    """`count` events with distinct ids; the last `reprints` repeat earlier texts."""
    distinct = count - reprints
    events = []
    for i in range(count):
        original = i if i < distinct else (i * 7919) % distinct
        text = (
            f"$T{original % 97} Company{original}{tag} shares rise after results beat by {original}"
        )
        if i >= distinct:
            text = f"RT @wire: {text.lower()}"
        events.append((f"{tag}e{i}", news(f"{tag}e{i}", text)))
    return events


def produce(bootstrap: str, topic: str, values: Iterable[tuple[bytes | None, bytes | None]]) -> int:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    sent = 0
    for key, value in values:
        producer.send(topic, key=key, value=value)
        sent += 1
    producer.flush()
    producer.close()
    return sent


def produce_events(stack: Stack, events: list[tuple[str, bytes]]) -> int:
    return produce(stack.bootstrap, stack.raw, ((ident.encode(), value) for ident, value in events))


def db_scalar(url: str, sql: str) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def stored_ids(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(text("SELECT id FROM news_items")).scalars())
    finally:
        engine.dispose()


def group_lag(stack: Stack) -> int:
    """Sum over partitions of end offset minus the group's committed offset (not joining)."""
    consumer = KafkaConsumer(
        bootstrap_servers=stack.bootstrap, group_id=stack.group, enable_auto_commit=False
    )
    try:
        partitions = [
            TopicPartition(stack.raw, p) for p in consumer.partitions_for_topic(stack.raw)
        ]
        ends = consumer.end_offsets(partitions)
        return sum(ends[tp] - (consumer.committed(tp) or 0) for tp in partitions)
    finally:
        consumer.close(autocommit=False)


def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of a topic, from the beginning to its current end."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()
