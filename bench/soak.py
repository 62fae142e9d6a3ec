"""Soak: the stack at a steady rate for an hour, sampled for leaks and drift.

  python -m bench.soak                    # 60 minutes at 50 events/s
  python -m bench.soak --minutes 3        # a short run (shows the method, proves little)

Two classifier workers, a scheduler and a notifier run as subprocesses on fresh topics and
a fresh database. Every --interval seconds it records, per process, RSS, open files and
threads (from /proc), the consumer lag, and the end-to-end latency (processed_at minus
the time the event was produced) of the items stored since the last sample. Writes
bench/results/soak.json and bench/results/soak.png.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
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
    """Sends `rate` events a second, each dated when it is sent, until stopped."""

    def __init__(self, bootstrap: str, topic: str, rate: float) -> None:
        super().__init__(name="soak-producer", daemon=True)
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        self._topic, self._rate = topic, rate
        self.stopping = threading.Event()
        self.sent = 0

    def run(self) -> None:
        from tests.chaos import events

        started = time.monotonic()
        while not self.stopping.is_set():
            # Dated when sent, so processed_at - published_at is the end-to-end latency.
            headline = f"Zentrix reports quarterly earnings and revenue number {self.sent}"
            record = events.news(f"soak-{self.sent}", headline, datetime.now(UTC))
            self._producer.send(self._topic, key=record.key, value=record.value)
            self.sent += 1
            lead = started + self.sent / self._rate - time.monotonic()
            if lead > 0:
                self.stopping.wait(lead)
        self._producer.flush()
        self._producer.close()


def soak(minutes: float, rate: float, interval: float, workdir: Path) -> dict[str, Any]:
    from pipeline.settings import DatabaseSettings, KafkaSettings, default_cache_dir
    from pipeline.storage.db import make_engine
    from pipeline.storage.migrate import upgrade
    from pipeline.topics import ensure_topics
    from pipeline.training.testbundle import cached_test_bundle
    from tests.chaos.harness import has_provider
    from tests.chaos.observe import await_topic, group_lag
    from tests.chaos.stack import Service, process_env, worker_settings
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
    bundle = cached_test_bundle(default_cache_dir() / "models").path
    prefix, name = topic_prefix("soak"), create_database(servers.admin_pg_url)
    url = database_url(servers.admin_pg_url, name)
    samples: list[dict[str, Any]] = []
    with ExitStack() as stack:
        stack.callback(drop_database, servers.admin_pg_url, name)
        upgrade(url)
        ensure_topics(
            KafkaSettings(
                bootstrap=servers.kafka_bootstrap,
                raw_topic=f"{prefix}.raw",
                dlq_topic=f"{prefix}.dlq",
                scored_topic=f"{prefix}.scored",
            )
        )
        stack.callback(delete_topics_with_prefix, servers.kafka_bootstrap, prefix)
        await_topic(servers.kafka_bootstrap, f"{prefix}.raw")
        env = process_env(worker_settings(servers.kafka_bootstrap, prefix, url, bundle))
        services = [
            Service(n, k, env, workdir / f"{n}.log")
            for n, k in (
                ("classifier-1", "classify"),
                ("classifier-2", "classify"),
                ("scheduler", "schedule"),
                ("notifier", "notify"),
            )
        ]
        for service in services:
            service.start()
            stack.callback(service.stop)
        for service in services[:2]:
            service.wait_ready(has_provider)
        engine = make_engine(DatabaseSettings(url=SecretStr(url)))
        stack.callback(engine.dispose)
        producer = SteadyProducer(servers.kafka_bootstrap, f"{prefix}.raw", rate)
        producer.start()
        started, since = time.monotonic(), datetime.now(UTC)
        while time.monotonic() - started < minutes * 60:
            time.sleep(interval)
            now = datetime.now(UTC)
            samples.append(
                {
                    "t_s": round(time.monotonic() - started, 1),
                    "sent": producer.sent,
                    "lag": group_lag(
                        servers.kafka_bootstrap, f"{prefix}-classifier", f"{prefix}.raw"
                    ),
                    "latency": latency_since(engine, since),
                    "processes": {
                        s.name: process_sample(s.proc.pid)
                        for s in services
                        if s.proc is not None and s.alive
                    },
                }
            )
            since = now
            print(json.dumps(samples[-1]), flush=True)
        producer.stopping.set()
        producer.join(30)
    return {"samples": samples, "summary": summarise(samples)}


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Growth after warm-up: the last third's mean against the mean just after warm-up."""
    steady = samples[int(len(samples) * WARM_UP_SHARE) :]
    if len(steady) < 3:
        return {"note": "too few samples"}
    third = max(1, len(steady) // 3)
    head, tail = steady[:third], steady[-third:]
    growth: dict[str, dict[str, float]] = {}
    for name in tail[-1]["processes"]:
        growth[name] = {
            metric: _growth_pct(head, tail, name, metric)
            for metric in ("rss_kib", "open_files", "threads")
        }
    lags = [s["lag"] for s in steady if s["lag"] is not None]
    p95 = [s["latency"]["p95_s"] for s in steady if s["latency"]["items"]]
    return {
        "growth_after_warm_up_pct": growth,
        "lag_max": max(lags, default=None),
        "lag_last": lags[-1] if lags else None,
        "latency_p95_median_s": statistics.median(p95) if p95 else None,
        "latency_p95_max_s": max(p95, default=None),
    }


def _growth_pct(
    head: list[dict[str, Any]], tail: list[dict[str, Any]], name: str, metric: str
) -> float:
    def mean(rows: list[dict[str, Any]]) -> float:
        values = [r["processes"][name][metric] for r in rows if name in r["processes"]]
        return statistics.fmean(values) if values else 0.0

    first = mean(head)
    return round((mean(tail) - first) / first * 100, 1) if first else 0.0


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
    axes[3].plot(minutes, [s["lag"] if s["lag"] is not None else float("nan") for s in samples])
    axes[3].set_ylabel("consumer lag")
    for key in ("p50_s", "p95_s"):
        axes[4].plot(minutes, [s["latency"][key] for s in samples], label=key)
    axes[4].set_ylabel("latency (s)")
    axes[4].legend(fontsize=8)
    axes[4].set_xlabel("minutes")
    fig.suptitle(f"finsent soak: {result['rate']:g} events/s for {result['minutes']:g} min")
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=60.0, help="length of the run")
    p.add_argument("--rate", type=float, default=50.0, help="events per second")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between samples")
    args = p.parse_args(argv)
    (ROOT / "finsent-out").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="soak-", dir=ROOT / "finsent-out"))
    measured = soak(args.minutes, args.rate, args.interval, workdir)
    result = {
        "git_sha": git_sha(),
        "timestamp": datetime.now(UTC).isoformat(),
        "minutes": args.minutes,
        "rate": args.rate,
        "interval_s": args.interval,
        **measured,
        "logs": str(workdir),
    }
    out = ROOT / "bench" / "results" / "soak.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    chart(result, out.with_suffix(".png"))
    print(json.dumps(result["summary"], indent=2))
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
