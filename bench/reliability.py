"""The large chaos run, its negative control and the fuzz figures, in one JSON.

  python -m bench.reliability             # 100,000 events, 10 worker kills, Postgres and broker
                                          # restarts, a freeze, leader and notifier kills
  python -m bench.reliability --mid       # 10,000 events, 3 worker kills, the same other faults
  python -m bench.reliability --smoke     # small (CI); writes bench/results/smoke/reliability.json

Full and mid runs write bench/results/reliability.json. It restarts and freezes the
Kafka and PostgreSQL that scripts/services.sh manages: run it alone. fuzz_cases and
fuzz_crashes come from bench/results[/smoke]/fuzz.json (python -m bench.fuzz), or from a
fuzz run made here when that file is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.fuzz import git_sha
from bench.fuzz import run as run_fuzz
from tests.chaos.harness import ChaosRun
from tests.chaos.negative_control import run_negative_control
from tests.chaos.plan import ChaosPlan

ROOT = Path(__file__).resolve().parents[1]

PLANS = {
    "smoke": ChaosPlan(
        "smoke",
        events=300,
        bad_events=24,
        worker_kills=1,
        broker_restarts=0,
        freezes=0,
        spikes=1,
        rate=30.0,
        quiesce_timeout_s=240.0,
    ),
    "mid": ChaosPlan(
        "mid",
        events=10_000,
        bad_events=200,
        worker_kills=3,
        notifier_kills=1,
        spikes=2,
        rate=60.0,
        quiesce_timeout_s=900.0,
    ),
    "large": ChaosPlan(
        "large",
        events=100_000,
        bad_events=1_000,
        worker_kills=10,
        notifier_kills=1,
        spikes=3,
        rate=250.0,
        quiesce_timeout_s=1800.0,
    ),
}
NEGATIVE_CONTROL_EVENTS = {"smoke": 200, "mid": 300, "large": 1_000}
FUZZ_CASES = {"smoke": 200, "mid": 10_000, "large": 10_000}


def fuzz_figures(size: str, workdir: Path) -> dict[str, Any]:
    path = ROOT / "bench" / "results" / ("smoke" if size == "smoke" else "") / "fuzz.json"
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        return {
            "fuzz_cases": saved["fuzz_cases"],
            "fuzz_crashes": saved["fuzz_crashes"],
            "fuzz_source": str(path.relative_to(ROOT)),
        }
    fresh = run_fuzz(FUZZ_CASES[size], 20261128, workdir)
    return {
        "fuzz_cases": fresh["fuzz_cases"],
        "fuzz_crashes": fresh["fuzz_crashes"],
        "fuzz_source": "run by bench.reliability",
    }


def run(size: str, workdir: Path) -> dict[str, Any]:
    from pipeline.settings import default_cache_dir
    from pipeline.training.testbundle import cached_test_bundle
    from tests.servers import Servers, ensure_servers

    servers = Servers.from_environment()
    ensure_servers(servers)
    bundle = cached_test_bundle(default_cache_dir() / "models").path
    (workdir / "chaos").mkdir()
    (workdir / "control").mkdir()
    report = ChaosRun(PLANS[size], servers, bundle, workdir / "chaos").execute()
    control = run_negative_control(
        servers, bundle, workdir / "control", NEGATIVE_CONTROL_EVENTS[size]
    )
    chaos = report.as_json()
    return {
        "git_sha": git_sha(),
        "timestamp": datetime.now(UTC).isoformat(),
        **{
            k: chaos[k]
            for k in (
                "run",
                "events",
                "worker_kills",
                "postgres_restarts",
                "broker_restarts",
                "leader_kills",
                "lost",
                "duplicated",
                "dlq_expected",
                "dlq_found",
                "dlq_records",
                "notifications_expected",
                "notifications_delivered",
            )
        },
        **fuzz_figures(size, workdir),
        "negative_control_failed": control.lost >= 1,
        "negative_control": asdict(control),
        "chaos": chaos,
        "logs": str(workdir),
    }


def passed(result: dict[str, Any]) -> bool:
    chaos = result["chaos"]
    return bool(
        chaos["quiesced"]
        and result["lost"] == 0
        and result["duplicated"] == 0
        and result["dlq_found"] == result["dlq_expected"]
        and chaos["dlq_unexpected"] == 0
        and result["notifications_delivered"] == result["notifications_expected"]
        and chaos["outbox_undelivered"] == 0
        and chaos["final_lag"] == 0
        and result["fuzz_crashes"] == 0
        and result["negative_control_failed"]
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--smoke", action="store_true", help="small run; results under smoke/")
    size.add_argument("--mid", action="store_true", help="10,000 events, 3 worker kills")
    args = p.parse_args(argv)
    chosen = "smoke" if args.smoke else "mid" if args.mid else "large"
    (ROOT / "finsent-out").mkdir(exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f"reliability-{chosen}-", dir=ROOT / "finsent-out"))
    result = run(chosen, workdir)
    out = ROOT / "bench" / "results" / ("smoke" if args.smoke else "") / "reliability.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k not in ("chaos", "negative_control")}))
    print(f"wrote {out}; logs in {workdir}")
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(main())
