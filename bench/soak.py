"""Soak: the stack at a steady rate for an hour, sampled for leaks and drift.

  python -m bench.soak                    # 60 minutes at 135 events/s, the shipped model
  python -m bench.soak --smoke            # 2 minutes at 20/s, the test bundle (CI)
  python -m bench.soak --minutes 10 --rate 100

A classifier worker (the service's default settings and the shipped model), a scheduler
and a notifier run as subprocesses on fresh topics and a fresh database. The tweets of
../shared/data/news_stream are replayed in stream order, each with a fresh id and dated
when it is sent, at --rate: by default half the pipeline capacity in
bench/results/pipeline.json. Half way through, the broker is restarted (SIGTERM, then
scripts/services.sh up); the seconds until the consumer lag is back to its level before the
restart are recorded. Every --interval seconds it records, per process, RSS, open files and
threads (from /proc), the consumer lag, the dead letters, and the end-to-end latency
(processed_at minus the time the event was sent) of the items stored since the last sample.
Growth after warm-up is the slope of a least-squares line, in % of the mean per hour.
Writes bench/results[/smoke]/soak.json and, for a full run, bench/results/soak.png.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from pydantic import SecretStr
from sqlalchemy import Engine, text

from bench.fuzz import git_sha

ROOT = Path(__file__).resolve().parents[1]
WARM_UP_SHARE = 0.25


def process_sample(pid: int) -> dict[str, int]:
    """RSS (KiB), threads and open file descriptors of one process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_kib": int(fields["VmRSS"].split()[0]),
        "threads": int(fields["Threads"]),
        "open_files": len(list(Path(f"/proc/{pid}/fd").iterdir())),
    }


def latency_since(engine: Engine, since: datetime) -> dict[str, float | int]:
    query = text(
        "SELECT count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY s), "
        "percentile_cont(0.95) WITHIN GROUP (ORDER BY s) FROM ("
        " SELECT extract(epoch FROM processed_at - published_at) AS s FROM news_items"
        " WHERE processed_at > :since) AS t"
    )
    with engine.connect() as conn:
        row = conn.execute(query, {"since": since}).one()
    count, p50, p95 = int(row[0]), float(row[1] or 0.0), float(row[2] or 0.0)
    return {"items": count, "p50_s": p50, "p95_s": p95}


class SteadyProducer(threading.Thread):
    """Sends the stream's tweets at `rate` a second, each with a fresh id and dated when sent."""

    def __init__(self, bootstrap: str, topic: str, rate: float, tweets: list[dict[str, Any]]):
        super().__init__(name="soak-producer", daemon=True)
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        self._topic, self._rate, self._tweets = topic, rate, tweets
        self.stopping = threading.Event()
        self.sent = self.acked = self.failed = 0

    def _on_ack(self, _metadata: object) -> None:
        self.acked += 1

    def _on_error(self, _error: Exception) -> None:
        self.failed += 1

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopping.is_set():
            tweet = self._tweets[self.sent % len(self._tweets)]
            # Dated when sent, so processed_at - published_at is the end-to-end latency.
            event = {
                **tweet,
                "id": f"soak:{self.sent}",
                "headline": replayed_text(tweet["headline"], self.sent // len(self._tweets)),
                "published_at": datetime.now(UTC).isoformat(),
            }
            sending = self._producer.send(
                self._topic, key=event["id"].encode(), value=json.dumps(event).encode()
            )
            sending.add_callback(self._on_ack).add_errback(self._on_error)
            self.sent += 1
            lead = started + self.sent / self._rate - time.monotonic()
            if lead > 0:
                self.stopping.wait(lead)
        self._producer.flush()
        self._producer.close()


def replayed_text(text: str, replay: int) -> str:
    """The text of a later pass marked with its pass number: an unchanged text would be a
    reprint of the first pass, scored from the reprint cache, and the model would sit idle
    for the rest of the soak."""
    return text if replay == 0 else f"{text} (replay {replay})"


def stream_tweets() -> list[dict[str, Any]]:
    """The dated stock-tweet stream in its order; ids and times are replaced when sent."""
    from bench.pipeline import STREAM, load_texts

    with STREAM.open(encoding="utf-8") as handle:
        rows = sum(1 for _ in handle) - 1
    return [{k: v for k, v in e.items() if k != "id"} for e in load_texts(STREAM, rows)]


def default_rate() -> float:
    """Half the pipeline capacity measured on this project's benchmark machine."""
    measured = json.loads((ROOT / "bench" / "results" / "pipeline.json").read_text())
    return round(float(measured["pipeline_items_per_s"]) / 2)


@dataclass
class Soak:
    """The running stack of one soak and what it samples."""

    servers: Any
    prefix: str
    engine: Engine
    services: list[Any]
    samples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def raw_topic(self) -> str:
        return f"{self.prefix}.raw"

    def lag(self) -> int | None:
        from tests.chaos.observe import group_lag

        return group_lag(self.servers.kafka_bootstrap, f"{self.prefix}-classifier", self.raw_topic)

    def dead_letters(self) -> int | None:
        return topic_size(self.servers.kafka_bootstrap, f"{self.prefix}.dlq")

    def sample(self, started: float, since: datetime, sent: int) -> dict[str, Any]:
        row = {
            "t_s": round(time.monotonic() - started, 1),
            "sent": sent,
            "lag": self.lag(),
            "dead_letters": self.dead_letters(),
            "latency": latency_since(self.engine, since),
            "processes": {
                s.name: process_sample(s.proc.pid)
                for s in self.services
                if s.proc is not None and s.alive
            },
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        self.samples.append(row)
        print(json.dumps(row), flush=True)
        return row

    def restart_broker(self, started: float, producer: SteadyProducer) -> dict[str, Any]:
        """Restart the broker; seconds down, and seconds from its return until the lag is back
        where it was before, counted only once the producer's backlog of the outage is in Kafka
        (until then the lag cannot show it)."""
        from tests.chaos.faults import restart_kafka

        steady = [s["lag"] for s in self.samples if s["lag"] is not None]
        before = max(RECOVERED_LAG_FLOOR, percentile(steady[len(steady) // 4 :], 0.95))
        at = time.monotonic() - started
        down_s = restart_kafka(self.servers)
        returned, backlog = time.monotonic(), producer.sent
        peak = 0
        while time.monotonic() - returned < RECOVERY_TIMEOUT_S:
            lag = self.lag()
            if lag is not None and producer.acked + producer.failed >= backlog:
                peak = max(peak, lag)
                if lag <= before:
                    break
            time.sleep(1)
        else:
            lag = None
        recovered_s = None if lag is None else round(time.monotonic() - returned, 1)
        restart = {
            "at_s": round(at, 1),
            "down_s": round(down_s, 1),
            "lag_before": before,
            "lag_peak_after": peak,
            "lag_recovered_s": recovered_s,
        }
        print(json.dumps({"broker_restart": restart}), flush=True)
        return restart

    def drain(self, sent: int) -> dict[str, Any]:
        """After the producer stops: wait for lag 0, then count what was stored of the `sent`
        records Kafka acknowledged."""
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while time.monotonic() < deadline and self.lag() != 0:
            time.sleep(2)
        with self.engine.connect() as conn:
            stored = int(conn.execute(text("SELECT count(*) FROM news_items")).scalar_one())
        dead = self.dead_letters() or 0
        return {
            "sent": sent,
            "stored": stored,
            "dead_letters": dead,
            "final_lag": self.lag(),
            "unaccounted": sent - stored - dead,
            "services_died": [s.name for s in self.services if not s.alive],
        }


RECOVERED_LAG_FLOOR = 200  # a batch or two in flight is not lag
RECOVERY_TIMEOUT_S = 600.0
DRAIN_TIMEOUT_S = 300.0


def topic_size(bootstrap: str, topic: str) -> int | None:
    """Records in a topic (sum of end offsets; nothing is compacted or deleted in a soak)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    except KafkaError:
        return None
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(int(v) for v in consumer.end_offsets(parts).values())
    except KafkaError:
        return None
    finally:
        consumer.close()


def percentile(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0


def soak(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from bench.measured_model import resolve_bundle
    from pipeline.consumer.topics import ensure_topics
    from pipeline.settings import DatabaseSettings, KafkaSettings
    from pipeline.storage.db import make_engine
    from pipeline.storage.migrate import upgrade
    from tests.chaos.harness import has_provider
    from tests.chaos.observe import await_topic
    from tests.chaos.stack import Service, process_env
    from tests.servers import (
        Servers,
        create_database,
        database_url,
        delete_topics_with_prefix,
        drop_database,
        ensure_servers,
        topic_prefix,
    )

    servers = Servers.from_environment()
    ensure_servers(servers)
    bundle = resolve_bundle(None, args.smoke)
    tweets = stream_tweets()
    prefix, name = topic_prefix("soak"), create_database(servers.admin_pg_url)
    url = database_url(servers.admin_pg_url, name)
    with ExitStack() as stack:
        stack.callback(drop_database, servers.admin_pg_url, name)
        upgrade(url)
        kafka = KafkaSettings(
            bootstrap=servers.kafka_bootstrap,
            raw_topic=f"{prefix}.raw",
            dlq_topic=f"{prefix}.dlq",
            scored_topic=f"{prefix}.scored",
        )
        ensure_topics(kafka)
        stack.callback(delete_topics_with_prefix, servers.kafka_bootstrap, prefix)
        await_topic(servers.kafka_bootstrap, f"{prefix}.raw")
        env = process_env(service_settings(kafka, prefix, url, bundle.path))
        services = [
            Service(n, k, env, workdir / f"{n}.log")
            for n, k in (
                ("classifier", "classify"),
                ("scheduler", "schedule"),
                ("notifier", "notify"),
            )
        ]
        for service in services:
            service.start()
            stack.callback(service.stop)
        services[0].wait_ready(has_provider)
        engine = make_engine(DatabaseSettings(url=SecretStr(url)))
        stack.callback(engine.dispose)
        run = Soak(servers, prefix, engine, services)
        restart, finish = measure(run, args, tweets)
    return {
        "model_version": bundle.version,
        "tweets_in_stream": len(tweets),
        "samples": run.samples,
        "broker_restart": restart,
        "finish": finish,
        "summary": summarise(run.samples),
    }


def service_settings(kafka: Any, prefix: str, db_url: str, bundle: Path) -> dict[str, str]:
    """The service's defaults but for where it reads, writes and which model it serves."""
    return {
        "KAFKA__BOOTSTRAP": kafka.bootstrap,
        "KAFKA__RAW_TOPIC": kafka.raw_topic,
        "KAFKA__DLQ_TOPIC": kafka.dlq_topic,
        "KAFKA__SCORED_TOPIC": kafka.scored_topic,
        "KAFKA__GROUP": f"{prefix}-classifier",
        "DATABASE__URL": db_url,
        "MODEL__BUNDLE": str(bundle),
    }


def measure(
    run: Soak, args: argparse.Namespace, tweets: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    producer = SteadyProducer(run.servers.kafka_bootstrap, run.raw_topic, args.rate, tweets)
    producer.start()
    started, since, restart = time.monotonic(), datetime.now(UTC), None
    restart_at = args.minutes * 60 / 2
    while time.monotonic() - started < args.minutes * 60:
        time.sleep(args.interval)
        now = datetime.now(UTC)
        run.sample(started, since, producer.sent)
        since = now
        if restart is None and time.monotonic() - started >= restart_at:
            restart = run.restart_broker(started, producer)
    producer.stopping.set()
    producer.join(60)
    finish = run.drain(producer.acked)
    finish.update(produced=producer.sent, produce_failed=producer.failed)
    return restart, finish


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Growth after warm-up: a least-squares slope, in % of the mean per hour."""
    steady = samples[int(len(samples) * WARM_UP_SHARE) :]
    if len(steady) < 3:
        return {"note": "too few samples"}
    growth: dict[str, dict[str, float | None]] = {}
    for name in steady[-1]["processes"]:
        growth[name] = {
            metric: slope_pct_per_hour(steady, name, metric)
            for metric in ("rss_kib", "open_files", "threads")
        }
    lags = [s["lag"] for s in steady if s["lag"] is not None]
    dead = [s["dead_letters"] for s in steady if s["dead_letters"] is not None]
    p95 = [s["latency"]["p95_s"] for s in steady if s["latency"]["items"]]
    p50 = [s["latency"]["p50_s"] for s in steady if s["latency"]["items"]]
    return {
        "growth_after_warm_up_pct_per_hour": growth,
        "lag_median": statistics.median(lags) if lags else None,
        "lag_max": max(lags, default=None),
        "dead_letters_first": dead[0] if dead else None,
        "dead_letters_last": dead[-1] if dead else None,
        "latency_p50_median_s": statistics.median(p50) if p50 else None,
        "latency_p95_median_s": statistics.median(p95) if p95 else None,
        "latency_p95_max_s": max(p95, default=None),
        "load_average_1m_median": statistics.median(s["load_average_1m"] for s in steady),
    }


def slope_pct_per_hour(rows: list[dict[str, Any]], name: str, metric: str) -> float | None:
    points = [
        (r["t_s"] / 3600, r["processes"][name][metric]) for r in rows if name in r["processes"]
    ]
    if len(points) < 3:
        return None
    hours, values = zip(*points, strict=True)
    fit = statistics.linear_regression(hours, values)
    mean = statistics.fmean(values)
    return round(fit.slope / mean * 100, 2) if mean else 0.0


def chart(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    minutes = [s["t_s"] / 60 for s in samples]
    fig, axes = plt.subplots(5, 1, figsize=(9, 13), sharex=True)
    names = sorted({n for s in samples for n in s["processes"]})
    for ax, metric, label in zip(
        axes[:3],
        ("rss_kib", "open_files", "threads"),
        ("RSS (MiB)", "open files", "threads"),
        strict=True,
    ):
        scale = 1024 if metric == "rss_kib" else 1
        for name in names:
            ax.plot(
                minutes,
                [s["processes"].get(name, {}).get(metric, float("nan")) / scale for s in samples],
                label=name,
            )
        ax.set_ylabel(label)
    axes[0].legend(fontsize=8)
    axes[3].plot(
        minutes,
        [s["lag"] if s["lag"] is not None else float("nan") for s in samples],
        label="consumer lag",
    )
    axes[3].plot(
        minutes,
        [s["dead_letters"] if s["dead_letters"] is not None else float("nan") for s in samples],
        label="dead letters",
    )
    axes[3].set_ylabel("records")
    axes[3].legend(fontsize=8)
    if result.get("broker_restart"):
        for ax in axes:
            ax.axvline(result["broker_restart"]["at_s"] / 60, color="grey", linestyle=":")
    for key in ("p50_s", "p95_s"):
        axes[4].plot(minutes, [s["latency"][key] for s in samples], label=key)
    axes[4].set_ylabel("latency (s)")
    axes[4].legend(fontsize=8)
    axes[4].set_xlabel("minutes")
    fig.suptitle(
        f"finsent soak: {result['rate']:g} events/s for {result['minutes']:g} min,"
        f" broker restarted at the dotted line (git {result['git_sha'][:7]})"
    )
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    (ROOT / "finsent-out").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="soak-", dir=ROOT / "finsent-out"))
    sha = git_sha()  # the code measured is the code at the start
    measured = soak(args, workdir)
    result = {
        "git_sha": sha,
        "timestamp": datetime.now(UTC).isoformat(),
        "minutes": args.minutes,
        "rate": args.rate,
        "interval_s": args.interval,
        "cpu_count": os.cpu_count(),
        **measured,
        "logs": str(workdir),
    }
    out = ROOT / "bench" / "results" / ("smoke" if args.smoke else "") / "soak.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if not args.smoke:
        chart(result, out.with_suffix(".png"))
    print(json.dumps({k: result[k] for k in ("summary", "broker_restart", "finish")}, indent=2))
    print(f"wrote {out}")
    return 0 if healthy(result) else 1


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="2 minutes at 20/s, the test bundle")
    p.add_argument("--minutes", type=float, default=60.0, help="length of the run")
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="events per second (default: half of pipeline.json's capacity)",
    )
    p.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    args = p.parse_args(argv)
    if args.smoke:
        args.minutes, args.rate, args.interval = 2.0, args.rate or 20.0, 5.0
    args.rate = args.rate or default_rate()
    if args.minutes <= 0 or args.rate <= 0 or args.interval <= 0:
        p.error("--minutes, --rate and --interval must be positive")
    return args


def healthy(result: dict[str, Any]) -> bool:
    """Nothing died, nothing unaccounted for, and the lag came back after the restart."""
    finish, restart = result["finish"], result["broker_restart"]
    return (
        not finish["services_died"]
        and finish["unaccounted"] == 0
        and finish["final_lag"] == 0
        and restart is not None
        and restart["lag_recovered_s"] is not None
    )


if __name__ == "__main__":
    sys.exit(main())
