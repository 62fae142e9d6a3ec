"""Pipeline benchmark on the real Kafka and PostgreSQL (issue 4 goals).

  python -m bench.pipeline                # 20,000 events, 6 partitions, one worker
  python -m bench.pipeline --smoke        # small; writes bench/results/smoke/pipeline.json

Phases, all on the same texts (bench/../shared news_stream tweets) and machine:
1. raw runtime: ModelRuntime.classify in batches of `batching.max_batch_size`, in-process;
2. pipeline: events pre-produced into a 6-partition topic, then a `workers.classifier`
   process; timed from its consumer joining the group to the last offset committed;
3. naive: a tutorial-style consumer, in-process: one model call and one ORM insert + commit
   per message (the runtime at batch 1 unless bench.runtime provides the pinned baseline);
4. latency: a fresh worker publishing to news.scored; events produced at half the measured
   pipeline rate; latency = scored record time (sent after the DB commit) - raw record time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.measured_model import resolve_bundle, resolve_checkpoint
from pipeline.consumer.topics import ensure_topics
from pipeline.model.bundle import ModelBundle
from pipeline.settings import KafkaSettings, load_settings
from pipeline.storage.migrate import upgrade
from pipeline.storage.tables import ClassificationRow, ModelVersion, NewsItem
from schemas import decode_news_event
from tests.servers import Servers

ROOT = Path(__file__).resolve().parents[1]
STREAM = ROOT.parent / "shared" / "data" / "news_stream" / "stocknet_tweets_stream.csv"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="small sizes, smoke results dir")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--naive-events", type=int, default=2_000)
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="default: FINSENT_MODEL__BUNDLE, else the shipped model",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="the bundle's training checkpoint, for the pinned naive baseline (smoke: the test"
        " bundle's)",
    )
    # The servers scripts/services.sh runs for this environment (FINSENT_KAFKA_PORT, ...).
    servers = Servers.from_environment()
    parser.add_argument(
        "--bootstrap", default=os.environ.get("FINSENT_KAFKA__BOOTSTRAP", servers.kafka_bootstrap)
    )
    parser.add_argument("--admin-url", default=servers.admin_pg_url)
    parser.add_argument("--texts", type=Path, default=STREAM)
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results[/smoke]")
    args = parser.parse_args()
    if args.smoke:
        args.events, args.naive_events, args.latency_seconds = 600, 100, 5.0
    return args


def main() -> None:
    args = parse()
    bundle = resolve_bundle(args.bundle, args.smoke)
    args.checkpoint = resolve_checkpoint(args.checkpoint, bundle)
    texts = load_texts(args.texts, args.events)
    run_id = uuid.uuid4().hex[:8]
    results: dict[str, Any] = {
        "git_sha": git_sha(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_version": bundle.version,
        "events": len(texts),
        "partitions": 6,
        "workers": 1,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "worker_settings": {k: v for k, v in os.environ.items() if k.startswith("FINSENT_")},
    }
    results["raw_runtime_items_per_s"] = raw_runtime(bundle, texts)
    print(f"raw runtime: {results['raw_runtime_items_per_s']:.0f} items/s", flush=True)
    pipe = Phase(args, bundle, f"bench-{run_id}-pipe")
    results["pipeline_items_per_s"] = pipe.throughput(texts)
    pipe.cleanup()
    print(f"pipeline: {results['pipeline_items_per_s']:.0f} items/s", flush=True)
    naive = Phase(args, bundle, f"bench-{run_id}-naive")
    results["naive_pipeline_items_per_s"], results["naive_scorer"] = naive.naive(
        texts[: args.naive_events]
    )
    print(f"naive: {results['naive_pipeline_items_per_s']:.1f} items/s", flush=True)
    rate = results["pipeline_items_per_s"] / 2
    latency = Phase(args, bundle, f"bench-{run_id}-latency")
    results.update(latency.latency(texts, rate, args.latency_seconds))
    latency.cleanup()
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    print(
        f"latency at {rate:.0f}/s: p50 {results['latency_p50_ms']} ms, "
        f"p99 {results['latency_p99_ms']} ms",
        flush=True,
    )
    results["cpu_count"] = os.cpu_count()
    default = ROOT / "bench" / "results" / ("smoke" if args.smoke else "") / "pipeline.json"
    out = args.out or default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


def load_texts(path: Path, count: int) -> list[dict[str, Any]]:
    """`count` events from the tweet stream (looping with fresh ids if it is shorter)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [r for _, r in zip(range(count), csv.DictReader(handle), strict=False)]
    events = []
    for i in range(count):
        row = rows[i % len(rows)]
        tickers = [t for t in row["tickers"].split(";") if t]
        events.append(
            {
                "id": f"bench:{i}:{row['tweet_id']}",
                "source": "stocknet/twitter",
                "published_at": datetime.now(UTC).isoformat(),
                "headline": row["text"],
                "tickers": tickers,
            }
        )
    return events


def raw_runtime(bundle: ModelBundle, events: Sequence[dict[str, Any]]) -> float:
    from pipeline.model.runtime import ModelRuntime

    runtime = ModelRuntime(bundle)
    size = load_settings().batching.max_batch_size
    texts = [e["headline"] for e in events]
    started = time.perf_counter()
    for i in range(0, len(texts), size):
        runtime.classify(texts[i : i + size])
    took = time.perf_counter() - started
    runtime.close()
    return round(len(texts) / took, 1)


class Phase:
    """One topic set and one fresh database for one measured phase."""

    def __init__(self, args: argparse.Namespace, bundle: ModelBundle, prefix: str) -> None:
        self.args, self.bundle, self.prefix = args, bundle, prefix
        self.kafka = KafkaSettings(
            bootstrap=args.bootstrap,
            raw_topic=f"{prefix}.raw",
            dlq_topic=f"{prefix}.dlq",
            scored_topic=f"{prefix}.scored",
            group=f"{prefix}-group",
        )
        ensure_topics(self.kafka)
        self.metrics_port = free_port()
        self.db_url = fresh_database(args.admin_url, prefix.replace("-", "_"))
        upgrade(self.db_url)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_KAFKA")}
        env.update(
            {
                "FINSENT_KAFKA__BOOTSTRAP": self.args.bootstrap,
                "FINSENT_KAFKA__RAW_TOPIC": self.kafka.raw_topic,
                "FINSENT_KAFKA__DLQ_TOPIC": self.kafka.dlq_topic,
                "FINSENT_KAFKA__SCORED_TOPIC": self.kafka.scored_topic,
                "FINSENT_KAFKA__GROUP": self.kafka.group,
                "FINSENT_DATABASE__URL": self.db_url,
                "FINSENT_MODEL__BUNDLE": str(self.bundle.path),
                "FINSENT_METRICS_PORT": str(self.metrics_port),
                "PYTHONPATH": str(ROOT),
            }
        )
        env.update(extra)
        return env

    def produce(
        self, events: Sequence[dict[str, Any]], rate: float | None = None
    ) -> dict[str, int]:
        producer = KafkaProducer(bootstrap_servers=self.args.bootstrap, acks="all", linger_ms=2)
        sent_ms: dict[str, int] = {}
        started = time.monotonic()
        for i, event in enumerate(events):
            if rate is not None:
                time.sleep(max(0.0, started + i / rate - time.monotonic()))
            sent_ms[event["id"]] = int(time.time() * 1000)
            producer.send(
                self.kafka.raw_topic,
                key=event["id"].encode(),
                value=json.dumps(event).encode(),
                timestamp_ms=sent_ms[event["id"]],
            )
        producer.flush()
        producer.close()
        return sent_ms

    def start_worker(self, **extra: str) -> tuple[subprocess.Popen[bytes], Path]:
        log = Path(f"/tmp/{self.prefix}.log")
        handle = log.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "workers.classifier"],
            cwd=ROOT,
            env=self.env(**extra),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        return proc, log

    def committed(self) -> float:
        """Messages the worker has committed, from its metrics endpoint (cheap to poll)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body = response.read().decode()
        except OSError:
            return 0.0
        for line in body.splitlines():
            if line.startswith("finsent_classifier_committed_messages_total "):
                return float(line.split()[1])
        return 0.0

    def cleanup(self) -> None:
        admin = KafkaAdminClient(bootstrap_servers=self.args.bootstrap)
        try:
            admin.delete_topics(
                [self.kafka.raw_topic, self.kafka.dlq_topic, self.kafka.scored_topic]
            )
        finally:
            admin.close()
        drop_database(self.args.admin_url, make_url(self.db_url).database or "")

    def rows(self) -> int:
        engine = create_engine(self.db_url)
        with engine.connect() as conn:
            n = int(conn.execute(select(func.count()).select_from(NewsItem)).scalar_one())
        engine.dispose()
        return n

    def throughput(self, events: Sequence[dict[str, Any]]) -> float:
        self.produce(events)
        proc, log = self.start_worker()
        try:
            wait(lambda: ": assigned [" in log.read_text(errors="replace"), 180, proc, log)
            started = time.perf_counter()
            wait(lambda: self.committed() >= len(events), 1800, proc, log, every=0.05)
            took = time.perf_counter() - started
        finally:
            stop(proc)
        assert self.rows() == len(events), f"stored {self.rows()} of {len(events)}"
        return round(len(events) / took, 1)

    def naive(self, events: Sequence[dict[str, Any]]) -> tuple[float, str]:
        self.produce(events)
        score, label = naive_scorer(self.bundle, self.args.checkpoint)
        engine = create_engine(self.db_url)
        with Session(engine) as session:
            session.merge(
                ModelVersion(
                    version="naive",
                    base_model="naive",
                    manifest={},
                    registered_at=datetime.now(UTC),
                )
            )
            session.commit()
        consumer = KafkaConsumer(
            self.kafka.raw_topic,
            bootstrap_servers=self.args.bootstrap,
            group_id=self.kafka.group,
            auto_offset_reset="earliest",
            **self.kafka.fetch_options(),
        )
        done, started = 0, time.perf_counter()
        while done < len(events):
            for batch in consumer.poll(timeout_ms=1000).values():
                for record in batch:
                    naive_store(engine, decode_news_event(record.value), score)
                    done += 1
        took = time.perf_counter() - started
        consumer.close()
        engine.dispose()
        return round(done / took, 2), label

    def latency(
        self, events: Sequence[dict[str, Any]], rate: float, seconds: float
    ) -> dict[str, Any]:
        proc, log = self.start_worker(FINSENT_KAFKA__PUBLISH_SCORED="true")
        try:
            wait(lambda: ": assigned [" in log.read_text(errors="replace"), 180, proc, log)
            count = max(1, int(rate * seconds))
            fresh = [{**e, "id": f"lat:{i}:{e['id']}"} for i, e in enumerate(events[:count])]
            sent = self.produce(fresh, rate)
            wait(lambda: self.committed() >= len(fresh), 600, proc, log, every=0.2)
        finally:
            stop(proc)
        received = scored_times(self.args.bootstrap, self.kafka.scored_topic)
        lat = sorted(received[k] - sent[k] for k in sent if k in received)
        return {
            "latency_rate_items_per_s": round(rate, 1),
            "latency_p50_ms": lat[len(lat) // 2],
            "latency_p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            "latency_mean_ms": round(statistics.fmean(lat), 1),
            "latency_samples": len(lat),
        }


def naive_scorer(bundle: ModelBundle, checkpoint: Path | None) -> tuple[Callable[[str], Any], str]:
    """bench.runtime's pinned naive baseline (needs the bundle's training checkpoint and the
    train extra); without a checkpoint, our own runtime at batch 1, labelled as such."""
    if checkpoint is not None:
        from bench.runtime import naive_classifier

        scorer = naive_classifier(checkpoint, bundle.manifest.max_length)
        return scorer, "bench.runtime.naive_classifier (transformers pipeline, one item per call)"
    from pipeline.model.runtime import ModelRuntime

    runtime = ModelRuntime(bundle, intra_op_threads=2)
    return (lambda t: runtime.classify([t])[0]), "ModelRuntime at batch 1 (no --checkpoint)"


def naive_store(engine: Any, event: Any, score: Callable[[str], Any]) -> None:
    """What a tutorial consumer does: classify one, add ORM objects, commit."""
    prediction = score(event.headline)
    now = datetime.now(UTC)
    probabilities = getattr(prediction, "probabilities", (0.0, 1.0, 0.0))
    with Session(engine) as session:
        session.add(
            NewsItem(
                id=event.id,
                source=event.source,
                published_at=event.published_at,
                event_time=event.published_at,
                processed_at=now,
                headline=event.headline,
                lang=event.lang,
                is_english=event.is_english,
                content_hash=event.id[:64],
                late=False,
                schema_version=event.schema_version,
            )
        )
        session.flush()
        session.add(
            ClassificationRow(
                item_id=event.id,
                model_version="naive",
                topic=str(getattr(prediction, "topic", "n/a")),
                topic_confidence=float(getattr(prediction, "topic_confidence", 0.0)),
                sentiment=str(
                    getattr(prediction, "sentiment", getattr(prediction, "label", "n/a"))
                ),
                p_negative=probabilities[0],
                p_neutral=probabilities[1],
                p_positive=probabilities[2],
                score=float(getattr(prediction, "score", 0.0)),
                event_time=event.published_at,
                processed_at=now,
            )
        )
        session.commit()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scored_times(bootstrap: str, topic: str) -> dict[str, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = consumer.end_offsets(parts)
    times: dict[str, int] = {}
    while any(consumer.position(tp) < ends[tp] for tp in parts):
        for batch in consumer.poll(timeout_ms=500).values():
            for record in batch:
                times.setdefault(record.key.decode(), record.timestamp)
    consumer.close()
    return times


def wait(
    check: Callable[[], bool],
    timeout: float,
    proc: subprocess.Popen[bytes],
    log: Path,
    every: float = 0.1,
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"worker failed or timed out (rc={proc.poll()}):\n{tail}")
        time.sleep(every)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()


def fresh_database(admin_url: str, name: str) -> str:
    plain = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    plain = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def git_sha() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


if __name__ == "__main__":
    main()
