"""Run every benchmark at smoke size (CI): each writes its JSON to bench/results/smoke/.

The full figures in bench/results/*.json come only from runs started by hand without --smoke.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCHES = (
    "accuracy",
    "model_choice",
    "runtime",
    "pipeline",
    "scheduler",
    "reliability",
    "soak",
    "alert_quality",
)
ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 600  # a hung benchmark fails CI instead of holding it


def _run(name: str) -> int:
    try:
        command = [sys.executable, "-m", f"bench.{name}", "--smoke"]
        return subprocess.run(command, cwd=ROOT, timeout=TIMEOUT_S).returncode
    except subprocess.TimeoutExpired:
        print(f"bench {name}: timed out after {TIMEOUT_S} s", flush=True)
        return 124


def main() -> int:
    failed: list[str] = []
    passed = 0
    for name in BENCHES:
        if not (ROOT / "bench" / f"{name}.py").exists():
            print(f"bench {name}: not present, skipped", flush=True)
            continue
        started = time.monotonic()
        print(f"bench {name} --smoke ...", flush=True)
        returncode = _run(name)
        took = time.monotonic() - started
        status = "ok" if returncode == 0 else f"FAILED (exit {returncode})"
        print(f"bench {name}: {status} in {took:.0f}s", flush=True)
        if returncode != 0:
            failed.append(name)
            continue
        if not (ROOT / "bench" / "results" / "smoke" / f"{name}.json").exists():
            print(f"bench {name}: wrote no bench/results/smoke/{name}.json", flush=True)
            failed.append(name)
            continue
        passed += 1
    print(f"{passed} passed, {len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
