"""Scheduler benchmark: the cost of a step as stored history grows, and alert latency.

  python -m bench.scheduler                 # 1M, 5M, 10M, 20M classifications, 1,000 tickers
  python -m bench.scheduler --smoke         # small; writes bench/results/smoke/scheduler.json
  python -m bench.scheduler --reuse         # measure the loaded bench database again, no loading

History grows at a fixed rate per day (--per-day) with a growing number of days: more
history, not denser history. It is generated inside PostgreSQL (generate_series) backwards
from one end time, so each size adds older days and the newest hours, the ones a step reads,
stay the same. At each size, each measured step first inserts `--new-per-step` fresh items
the way the classifier would, then runs `run_step` on a simulated clock. One step carries a
negative burst for one ticker; the alert latency is the simulated time from that commit to
the firing step plus the measured wall time of the firing step and of the webhook delivery
to a local receiver. Writes scheduler.json and, for a full run, scheduler.png.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.progress import Progress
from sqlalchemy import Engine, insert, select, text
from sqlalchemy.engine import make_url

from pipeline.alerting.scheduling import AlertScheduler
from pipeline.alerting.trends import floor_to
from pipeline.clock import SimulatedClock, WallClock
from pipeline.delivery.endpoints import add_endpoint
from pipeline.delivery.notifier import deliver_due
from pipeline.model.labels import TOPICS
from pipeline.settings import Settings, load_settings
from pipeline.storage.alert_tables import AlertRow
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import upgrade
from pipeline.storage.tables import ClassificationRow, ModelVersion, NewsItem, TickerMention

ROOT = Path(__file__).resolve().parents[1]
VERSION = "bench-model"
BURST_TICKER = "T0007"
CHUNK = 500_000


def main() -> None:
    args = parse()
    args.git_sha = git_sha()  # the code measured is the code at the start
    url = bench_database(args.admin_url, args.database, fresh=not args.reuse)
    settings = load_settings(
        database={"url": url, "statement_timeout_ms": 0},
        webhooks={"allow_private_targets": True},
    )
    engine = make_engine(settings.database)
    print(f"free disk before loading: {free_gib():.1f} GiB", flush=True)
    sizes = [] if args.reuse else grow_and_measure(engine, settings, args)
    if args.reuse:
        reset_measured_state(engine)
        sizes.append(measure_size(engine, settings, args, loaded_count(engine), None))
    write(run_summary(args, sizes), args.smoke, args.out)


def grow_and_measure(
    engine: Engine, settings: Settings, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Load the history once, oldest days last, and measure at each size on the way."""
    end = floor_to(datetime.now(UTC) - timedelta(hours=1), 3600)
    register_model(engine, end)
    total, loaded, results = max(args.sizes), 0, []
    for size in sorted(args.sizes):
        started = time.perf_counter()
        load_history(engine, args, end, total, (total - size + 1, total - loaded))
        load_seconds = time.perf_counter() - started
        loaded = size
        reset_measured_state(engine)
        results.append(measure_size(engine, settings, args, size, load_seconds))
        print(json.dumps(results[-1]), flush=True)
    return results


def measure_size(
    engine: Engine,
    settings: Settings,
    args: argparse.Namespace,
    size: int,
    load_seconds: float | None,
) -> dict[str, Any]:
    end = history_end(engine)
    if end is None:
        raise SystemExit(f"database {args.database} holds no history; run without --reuse")
    stored = history_bytes(engine)  # before the measured steps add their items
    result = measure_when_idle(engine, settings, args, end)
    days = size / args.per_day
    result.update(
        classifications=size,
        days=round(days, 2),
        load_seconds=load_seconds,
        history_bytes=stored,
        bytes_per_day=round(stored / days),
        **trend_window_cost(engine, end, args.steps),
        free_disk_gib=round(free_gib(), 1),
    )
    return result


def measure_when_idle(
    engine: Engine, settings: Settings, args: argparse.Namespace, end: datetime
) -> dict[str, Any]:
    """Measure once the machine is idle, and keep a try only if nothing else ran during it.

    The machine is shared (2 cores): a try counts when processes other than this one and the
    bench database's PostgreSQL backends used at most --max-other-cpu of the machine's CPU.
    """
    for attempt in range(1, args.idle_tries + 1):
        load_before = wait_for_idle(args.idle_load, args.idle_wait_min)
        meter = OtherCpu(engine)
        result = measure(engine, settings, args, end)
        other = meter.share()
        result.update(load_average_1m_at_start=load_before, other_cpu_share=other, attempts=attempt)
        if other <= args.max_other_cpu:
            return result
        print(f"other processes used {other:.0%} of the CPU during the try; measuring again")
        reset_measured_state(engine)
    raise SystemExit(f"the machine did not stay idle for {args.idle_tries} tries")


def wait_for_idle(threshold: float, minutes: float) -> float:
    """Wait until the 1-minute load average is below `threshold` (up to `minutes`)."""
    deadline = time.monotonic() + minutes * 60
    load = os.getloadavg()[0]
    while load >= threshold and time.monotonic() < deadline:
        print(f"load average {load:.2f} >= {threshold}: waiting for an idle machine", flush=True)
        time.sleep(15)
        load = os.getloadavg()[0]
    return round(load, 2)


class OtherCpu:
    """CPU time other processes used since construction, as a share of all CPU time.

    Ours are this process and every process of the bench's PostgreSQL server (its backends,
    parallel workers, autovacuum): the server is the system under test. The others are
    counted by the processes alive at both ends (a process that starts and ends inside a
    try is missed); parallel workers come and go inside a query, which is why the server is
    recognised by its postmaster and not its processes' names.
    """

    def __init__(self, engine: Engine) -> None:
        with engine.connect() as conn:
            backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
        self._postmaster = parent_pid(backend)
        self._total, self._others = machine_jiffies(), self._other_jiffies()

    def share(self) -> float:
        spent = machine_jiffies() - self._total
        others = self._other_jiffies()
        used = sum(max(0, jiffies - self._others.get(pid, 0)) for pid, jiffies in others.items())
        return round(min(used, spent) / spent, 3) if spent else 0.0

    def _other_jiffies(self) -> dict[int, int]:
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if pid in (os.getpid(), self._postmaster) or parent_pid(pid) == self._postmaster:
                continue
            found[pid] = process_jiffies(pid)
        return found


def machine_jiffies() -> int:
    """Busy and idle time of all CPUs (the first line of /proc/stat, user..steal)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    return sum(int(v) for v in fields)


def parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # it ended while we looked; nobody's child any more
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def process_jiffies(pid: int) -> int:
    """User + system time of a process, 0 when it has ended."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def parse() -> argparse.Namespace:
    port = os.environ.get("FINSENT_PG_PORT", "5432")
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="small sizes, results under smoke/")
    p.add_argument(
        "--sizes",
        type=sizes,
        default=[1_000_000, 5_000_000, 10_000_000, 20_000_000],
        help="classifications at which to measure, comma-separated (1000000,5000000)",
    )
    p.add_argument(
        "--per-day",
        type=int,
        default=5_000_000 // 30,
        help="classifications per day of history (fixed: sizes add days)",
    )
    p.add_argument("--tickers", type=int, default=1000)
    p.add_argument("--new-per-step", type=int, default=1000)
    p.add_argument("--steps", type=int, default=20, help="measured steps")
    p.add_argument("--reuse", action="store_true", help="keep the loaded bench database")
    p.add_argument(
        "--admin-url", default=f"postgresql+psycopg://finsent:finsent@127.0.0.1:{port}/finsent"
    )
    p.add_argument("--database", default=None, help="bench database name")
    p.add_argument(
        "--idle-load",
        type=float,
        default=0.8,
        help="measure only when the 1-minute load average is below this",
    )
    p.add_argument("--idle-wait-min", type=float, default=90.0, help="longest wait for idle")
    p.add_argument(
        "--max-other-cpu",
        type=float,
        default=0.1,
        help="a try counts when other processes used at most this share of the CPU",
    )
    p.add_argument("--idle-tries", type=int, default=5)
    p.add_argument(
        "--out", type=Path, default=None, help="result file (default bench/results[/smoke]/)"
    )
    args = p.parse_args()
    if args.smoke:
        args.sizes, args.per_day, args.tickers = [30_000, 60_000], 30_000, 50
        args.new_per_step, args.steps = 100, 8
        args.idle_load, args.max_other_cpu = float("inf"), 1.0  # CI checks the machinery only
    if min(args.sizes) < 1 or args.per_day < 1:
        p.error("--sizes and --per-day must be positive")
    args.database = args.database or ("finsent_bench_sched" + ("_smoke" if args.smoke else ""))
    return args


def sizes(text_value: str) -> list[int]:
    """'1000000,5000000' -> [1000000, 5000000]; argparse turns a ValueError into a usage error."""
    return sorted({int(part.replace("_", "")) for part in text_value.split(",") if part.strip()})


def free_gib() -> float:
    return shutil.disk_usage(ROOT).free / 2**30


def bench_database(admin_url: str, name: str, fresh: bool) -> str:
    libpq = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(libpq, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if fresh and exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        if fresh or not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def register_model(engine: Engine, end: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(ModelVersion).values(
                version=VERSION,
                base_model="bench",
                manifest={},
                registered_at=end - timedelta(days=400),
            )
        )


def load_history(
    engine: Engine, args: argparse.Namespace, end: datetime, total: int, numbers: tuple[int, int]
) -> None:
    """Items numbered `numbers` of `total`, item g at end - (total - g + 1) / per_day days.

    20% negative, 2% non-English, 10% reprints; a progress bar counts the rows.
    """
    gap = 86400 / args.per_day
    params = {
        "start": end.timestamp() - total * gap,
        "gap": gap,
        "tickers": args.tickers,
        "topics": list(TOPICS),
        "version": VERSION,
    }
    first, last = numbers
    with Progress() as progress:
        rows = progress.add_task(f"loading items {first:,}-{last:,}", total=last - first + 1)
        for lo in range(first, last + 1, CHUNK):
            hi = min(lo + CHUNK - 1, last)
            with engine.begin() as conn:
                conn.execute(text("SELECT setseed(:s)"), {"s": (lo % 1000) / 1000})
                for statement in (ITEMS_SQL, RESULTS_SQL, MENTIONS_SQL):
                    conn.execute(text(statement), {**params, "lo": lo, "hi": hi})
            progress.advance(rows, hi - lo + 1)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE news_items, classifications, ticker_mentions"))


def loaded_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM classifications")).scalar_one())


HISTORY_TABLES = ("news_items", "classifications", "ticker_mentions")


def history_bytes(engine: Engine) -> int:
    """Bytes on disk (heap, indexes, TOAST) of the tables one stored item writes to."""
    with engine.connect() as conn:
        return sum(
            int(conn.execute(text("SELECT pg_total_relation_size(:t)"), {"t": table}).scalar_one())
            for table in HISTORY_TABLES
        )


def trend_window_cost(engine: Engine, end: datetime, steps: int) -> dict[str, float]:
    """Rows a measured step writes and bytes a row takes in trend_windows and its partitions.

    Rows are counted after `end`: the first step, at `end`, also fills the baseline windows.
    """
    size = text(
        "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits"
        " WHERE inhparent = 'trend_windows'::regclass"
    )
    counts = text("SELECT count(*), count(*) FILTER (WHERE window_end > :end) FROM trend_windows")
    with engine.connect() as conn:
        total_bytes = int(conn.execute(size).scalar_one())
        rows, measured = (int(v) for v in conn.execute(counts, {"end": end}).one())
    return {
        "trend_window_rows_per_step": round(measured / max(1, steps), 1),
        "trend_window_bytes_per_row": round(total_bytes / rows, 1) if rows else 0.0,
    }


EVENT_TIME = "to_timestamp(:start + g * :gap)"
ITEMS_SQL = f"""
INSERT INTO news_items (id, source, published_at, event_time, processed_at, headline, url, lang,
    is_english, content_hash, late, schema_version)
SELECT 'b' || g, 'src' || (g % 40), {EVENT_TIME}, {EVENT_TIME},
    {EVENT_TIME} + interval '2 seconds', 'bench headline ' || g,
    'https://bench.example/' || g, CASE WHEN g % 50 = 0 THEN 'de' ELSE 'en' END, g % 50 <> 0,
    md5((g - (g % 10 = 0)::int)::text), false, '1.0'
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
"""
RESULTS_SQL = f"""
INSERT INTO classifications (item_id, model_version, topic, topic_confidence, sentiment,
    p_negative, p_neutral, p_positive, score, event_time, processed_at)
SELECT 'b' || g, :version, (CAST(:topics AS text[]))[1 + g % 20], 0.8,
    CASE WHEN r < 0.2 THEN 'negative' WHEN r < 0.75 THEN 'neutral' ELSE 'positive' END,
    CASE WHEN r < 0.2 THEN 0.8 ELSE 0.1 END, CASE WHEN r < 0.2 OR r >= 0.75 THEN 0.1 ELSE 0.8 END,
    CASE WHEN r >= 0.75 THEN 0.8 ELSE 0.1 END,
    CASE WHEN r < 0.2 THEN -0.7 WHEN r < 0.75 THEN 0.0 ELSE 0.7 END,
    {EVENT_TIME}, {EVENT_TIME} + interval '2 seconds'
FROM (SELECT g, random() AS r FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g) q
"""
MENTIONS_SQL = f"""
INSERT INTO ticker_mentions (item_id, symbol, origin, event_time)
SELECT 'b' || g, 'T' || lpad((g % :tickers)::text, 4, '0'), 'producer', {EVENT_TIME}
FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
"""


def reset_measured_state(engine: Engine) -> None:
    """Back to the loaded history: drop a previous run's fresh items, windows and alerts."""
    with engine.begin() as conn:
        conn.execute(
            text("CREATE INDEX IF NOT EXISTS ix_news_items_reprint_of ON news_items (reprint_of)")
        )
        conn.execute(text("DELETE FROM news_items WHERE id LIKE 'n%'"))
        conn.execute(
            text(
                "TRUNCATE trend_windows, trend_steps, alerts, alert_events,"
                " webhook_deliveries, webhook_attempts, webhook_endpoints"
            )
        )
        conn.execute(
            text(
                "CREATE INDEX IF NOT EXISTS ix_ticker_mentions_event_time"
                " ON ticker_mentions (event_time)"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE news_items, classifications, ticker_mentions"))


def history_end(engine: Engine) -> datetime | None:
    from sqlalchemy import func

    with engine.connect() as conn:
        last = conn.execute(select(func.max(NewsItem.event_time))).scalar_one_or_none()
    return None if last is None else floor_to(last, 30) + timedelta(seconds=30)


def measure(
    engine: Engine, settings: Settings, args: argparse.Namespace, end: datetime
) -> dict[str, Any]:
    step = timedelta(seconds=settings.trends.step_s)
    clock = SimulatedClock(end)
    steps = AlertScheduler(settings)  # one per process, as `finsent worker schedule` keeps it
    started = time.perf_counter()
    steps.run(engine, clock)
    first_step = time.perf_counter() - started
    rng = random.Random(7)
    with receiver() as (url, received):
        add_endpoint(
            engine,
            settings.webhooks,
            f"bench-{time.time_ns()}",
            url,
            WallClock().now(),
            scope_kinds=["ticker"],
        )
        durations, burst_at, latency = [], None, None
        for index in range(args.steps):
            burst = index == 2
            commit_at = new_items(engine, args, clock.now(), step, rng, burst)
            if burst:
                burst_at = commit_at
            clock.advance(step)
            t0 = time.perf_counter()
            steps.run(engine, clock)
            durations.append(time.perf_counter() - t0)
            if burst_at is not None and latency is None and firing(engine):
                latency = deliver(engine, settings, received, clock.now() - burst_at, t0)
    return summary(args, durations, first_step, latency, settings)


def new_items(
    engine: Engine,
    args: argparse.Namespace,
    now: datetime,
    step: timedelta,
    rng: random.Random,
    burst: bool,
) -> datetime:
    """One step's worth of fresh items; with `burst`, 20 negative ones about BURST_TICKER."""
    items, results, mentions = [], [], []
    count = args.new_per_step
    for n in range(count):
        processed = now + step * (n + 1) / (count + 1)
        negative = burst and n % max(1, count // 20) == 0
        symbol = BURST_TICKER if negative else f"T{rng.randrange(args.tickers):04d}"
        event = processed - timedelta(seconds=rng.uniform(0, 60))
        rows = fresh_rows(f"n{now.timestamp():.0f}-{n}", event, processed, symbol, negative, rng)
        items.append(rows[0])
        results.append(rows[1])
        mentions.append(rows[2])
    with engine.begin() as conn:
        conn.execute(insert(NewsItem), items)
        conn.execute(insert(ClassificationRow), results)
        conn.execute(insert(TickerMention), mentions)
    return now + step


def fresh_rows(
    item_id: str,
    event: datetime,
    processed: datetime,
    symbol: str,
    negative: bool,
    rng: random.Random,
) -> tuple[dict[str, Any], ...]:
    sentiment = "negative" if negative or rng.random() < 0.2 else "neutral"
    p_neg = 0.9 if sentiment == "negative" else 0.1
    return (
        {
            "id": item_id,
            "source": f"src{rng.randrange(40)}",
            "published_at": event,
            "event_time": event,
            "processed_at": processed,
            "headline": f"fresh {item_id}",
            "url": f"https://bench.example/{item_id}",
            "lang": "en",
            "is_english": True,
            "content_hash": item_id,
            "late": False,
            "schema_version": "1.0",
        },
        {
            "item_id": item_id,
            "model_version": VERSION,
            "topic": rng.choice(TOPICS),
            "topic_confidence": 0.8,
            "sentiment": sentiment,
            "p_negative": p_neg,
            "p_neutral": 0.9 - p_neg + 0.05,
            "p_positive": 0.05,
            "score": 0.05 - p_neg,
            "event_time": event,
            "processed_at": processed,
        },
        {"item_id": item_id, "symbol": symbol, "origin": "producer", "event_time": event},
    )


def firing(engine: Engine) -> bool:
    with engine.connect() as conn:
        return (
            conn.execute(
                select(AlertRow.id).where(
                    AlertRow.scope == f"ticker:{BURST_TICKER}", AlertRow.state == "firing"
                )
            ).first()
            is not None
        )


def deliver(
    engine: Engine,
    settings: Settings,
    received: list[float],
    simulated: timedelta,
    step_started: float,
) -> dict[str, float]:
    with httpx.Client() as client:
        while not received and deliver_due(engine, settings.webhooks, WallClock(), client).claimed:
            pass
    wall = (received[0] if received else time.perf_counter()) - step_started
    steps = simulated / timedelta(seconds=settings.trends.step_s)
    return {"seconds": simulated.total_seconds() + wall, "steps": steps, "wall": wall}


class _Receiver(BaseHTTPRequestHandler):
    received: list[float] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.received.append(time.perf_counter())
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


class receiver:  # noqa: N801 - used as a context manager
    def __enter__(self) -> tuple[str, list[float]]:
        _Receiver.received = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook", _Receiver.received

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def summary(
    args: argparse.Namespace,
    durations: list[float],
    first_step: float,
    latency: dict[str, float] | None,
    settings: Settings,
) -> dict[str, Any]:
    ordered = sorted(durations)
    rule_bound = (settings.alerts.hold_steps + 1) * settings.trends.step_s
    return {
        "step_seconds_p50": round(statistics.median(ordered), 4),
        "step_seconds_p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 4),
        "alert_latency_s": None if latency is None else round(latency["seconds"], 3),
        "alert_latency_steps": None if latency is None else latency["steps"],
        "alert_latency_wall_s": None if latency is None else round(latency["wall"], 3),
        "alert_latency_bound_s": rule_bound + settings.webhooks.poll_interval_s,
        "first_step_seconds": round(first_step, 3),
        "steps_measured": len(durations),
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }


def run_summary(args: argparse.Namespace, sizes: list[dict[str, Any]]) -> dict[str, Any]:
    settings = load_settings()
    return {
        "git_sha": args.git_sha,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": args.database,
        "tickers": args.tickers,
        "classifications_per_day": args.per_day,
        "new_items_per_step": args.new_per_step,
        "step_s": settings.trends.step_s,
        "window_s": settings.trends.window_s,
        "cpu_count": os.cpu_count(),
        "sizes": sizes,
        "projection": projection(sizes, settings.trends.step_s),
    }


def projection(sizes: list[dict[str, Any]], step_s: int) -> dict[str, Any] | None:
    """A year of history at the measured rate, from the largest size's bytes per day."""
    if not sizes:
        return None
    largest = sizes[-1]
    steps_per_day = 86400 // step_s
    row_bytes = largest["trend_window_bytes_per_row"]
    window_bytes_per_day = largest["trend_window_rows_per_step"] * row_bytes * steps_per_day
    return {
        "history_gib_per_year": round(largest["bytes_per_day"] * 365 / 2**30, 1),
        "trend_window_gib_per_day": round(window_bytes_per_day / 2**30, 2),
        "note": "trend windows are kept for the retention the settings give, not a year",
    }


def chart(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = result["sizes"]
    millions = [row["classifications"] / 1e6 for row in sizes]
    fig, (steps, first) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label in (("step_seconds_p50", "p50"), ("step_seconds_p95", "p95")):
        steps.plot(millions, [row[key] for row in sizes], marker="o", label=label)
    steps.set_xlabel("stored classifications (millions)")
    steps.set_ylabel("scheduler step (s)")
    steps.set_ylim(bottom=0)
    steps.legend()
    first.plot(millions, [row["first_step_seconds"] for row in sizes], marker="o")
    first.set_xlabel("stored classifications (millions)")
    first.set_ylabel("first step, fills baselines (s)")
    first.set_ylim(bottom=0)
    fig.suptitle(
        f"scheduler step vs history, {result['classifications_per_day']:,} per day,"
        f" {result['tickers']:,} tickers (git {result['git_sha'][:7]})"
    )
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def git_sha() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or "unknown"


def write(result: dict[str, Any], smoke: bool, out: Path | None = None) -> None:
    out = out or ROOT / "bench" / "results" / ("smoke" if smoke else "") / "scheduler.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if not smoke and len(result["sizes"]) > 1:
        chart(result, out.with_suffix(".png"))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
