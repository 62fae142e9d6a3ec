"""Fuzzing at volume: hypothesis-generated messages through decode/validate and a real worker.

  python -m bench.fuzz                 # 100,000 messages; writes bench/results/fuzz.json
  python -m bench.fuzz --smoke         # 200; writes bench/results/smoke/fuzz.json

A crash is any outcome outside the contract: an exception other than EventRejected, a
rejection without a reason, a worker exit, or a message neither stored nor dead-lettered.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
GENERATION_CHUNK = 5_000


def decode_crashes(values: Sequence[bytes | None]) -> tuple[int, Counter[str]]:
    """(crashes, rejection kinds) of the decoder over `values`; None is a tombstone."""
    from schemas import EventRejected, decode_news_event

    crashes, kinds = 0, Counter[str]()
    for value in values:
        if value is None:
            kinds["tombstone"] += 1
            continue
        try:
            decode_news_event(value)
            kinds["valid"] += 1
        except EventRejected as rejected:
            kinds[rejected.kind] += 1
            crashes += not rejected.reason.strip()
        except Exception:  # anything else is the finding this bench exists for
            crashes += 1
    return crashes, kinds


def through_worker(values: Sequence[bytes | None], workdir: Path) -> dict[str, Any]:
    from pipeline.settings import default_cache_dir
    from pipeline.storage.migrate import upgrade
    from pipeline.training.testbundle import cached_test_bundle
    from tests.fuzz_worker import run_fuzz_worker
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
    bundle = cached_test_bundle(default_cache_dir() / "models")
    name, prefix = create_database(servers.admin_pg_url), topic_prefix("bench-fuzz")
    url = database_url(servers.admin_pg_url, name)
    try:
        upgrade(url)
        outcome = run_fuzz_worker(
            values,
            servers.kafka_bootstrap,
            prefix,
            url,
            bundle.path,
            workdir / "worker.log",
            timeout=max(300.0, len(values) / 20),
        )
    finally:
        delete_topics_with_prefix(servers.kafka_bootstrap, prefix)
        drop_database(servers.admin_pg_url, name)
    return {**asdict(outcome), "crashes": outcome.crashes, "missing": outcome.missing[:20]}


def run(cases: int, seed: int, workdir: Path) -> dict[str, Any]:
    from tests.fuzz_messages import generate, inbound_messages

    started = time.monotonic()
    values: list[bytes | None] = []
    # Hypothesis slows down as one run's examples pile up (10,000 took 8 minutes in one run);
    # runs of GENERATION_CHUNK with seeds seed, seed + 1, ... stay fast and reproducible.
    for index, first in enumerate(range(0, cases, GENERATION_CHUNK)):
        size = min(GENERATION_CHUNK, cases - first)
        values += generate(inbound_messages | st.none(), size, seed_value=seed + index)
        print(f"generated {len(values):,} / {cases:,} messages", flush=True)
    generated_s = time.monotonic() - started
    decode_crash_count, kinds = decode_crashes(values)
    worker = through_worker(values, workdir)
    return {
        "fuzz_cases": len(values),
        "fuzz_crashes": decode_crash_count + worker["crashes"],
        "decode": {"crashes": decode_crash_count, "outcomes": dict(kinds)},
        "worker": worker,
        "generate_seconds": round(generated_s, 1),
        "seconds": round(time.monotonic() - started, 1),
    }


def git_sha() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="200 cases; results under smoke/")
    p.add_argument("--cases", type=int, default=None, help="messages (default 100,000)")
    p.add_argument("--seed", type=int, default=20261128)
    args = p.parse_args(argv)
    (ROOT / "finsent-out").mkdir(exist_ok=True)
    cases = args.cases or (200 if args.smoke else 100_000)
    workdir = Path(tempfile.mkdtemp(prefix="fuzz-", dir=ROOT / "finsent-out"))
    sha = git_sha()  # the code fuzzed is the code at the start
    result = run(cases, args.seed, workdir)
    print(f"worker log: {workdir / 'worker.log'}")
    result = {"git_sha": sha, "timestamp": datetime.now(UTC).isoformat(), **result}
    out = ROOT / "bench" / "results" / ("smoke" if args.smoke else "") / "fuzz.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("fuzz_cases", "fuzz_crashes", "seconds")}))
    print(f"wrote {out}")
    return 0 if result["fuzz_crashes"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
