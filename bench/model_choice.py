"""Which model should the CPU serve: the fastest one non-inferior to the shipped model.

`python -m bench.model_choice --candidate DIR [--candidate DIR ...]` scores the shipped
model and each candidate (a packed model directory, as `finsent model build-shipped --out`
writes) on the dev sets of shared/PLAN.md, never on TFN valid, at the precision each serves on
CPU, and times each at batch 64 on the same texts in the same run. A candidate is
non-inferior within 1 pt when, on every dev set and task, the upper end of the 95 %
paired-bootstrap interval of its accuracy loss against the shipped model is at most 0.01.
Results: bench/results/model_choice.json (smoke: bench/results/smoke/).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.robustness import OBJECTIVE_SETS, ROOT, SMOKE_ROWS, eval_sets, git_sha, score_sets

MARGIN = 0.01  # 1 pt
SPEED_BATCH = 64
SPEED_ROUNDS = 3

log = logging.getLogger("bench.model_choice")


def compare(candidates: list[Path], smoke: bool) -> dict[str, Any]:
    """The shipped model and each candidate side by side; the choice by PLAN's rule."""
    from pipeline.model.shipped import shipped_bundle

    load_before = os.getloadavg()
    sets = eval_sets(SMOKE_ROWS if smoke else None)
    dev = {name: sets[name] for name in OBJECTIVE_SETS}
    speed_texts = [row.text for row in sets["tfn_valid_sentiment"]]
    speed_texts = speed_texts[: SPEED_BATCH * 4] if smoke else speed_texts
    with tempfile.TemporaryDirectory(prefix="finsent-choice-") as cache:
        shipped = shipped_bundle()
        bundles = {"shipped": shipped} | {
            str(c): shipped_bundle(Path(cache) / c.name, c) for c in candidates
        }
        scored = {name: _judge(bundle, dev, speed_texts) for name, bundle in bundles.items()}
    base = scored["shipped"]
    results: dict[str, Any] = {}
    for name, entry in scored.items():
        losses = _losses(base["correct"], entry["correct"]) if name != "shipped" else {}
        results[name] = {
            "model_version": entry["version"],
            "layers": entry["layers"],
            "served_cpu_precision": entry["precision"],
            "items_per_s_b64": entry["items_per_s"],
            "speedup_vs_shipped": round(entry["items_per_s"] / base["items_per_s"], 3),
            "dev_accuracy": entry["accuracy"],
            "loss_vs_shipped": losses,
            "non_inferior_1pt": name == "shipped"
            or all(v["high"] <= MARGIN for v in losses.values()),
        }
    eligible = [n for n, r in results.items() if r["non_inferior_1pt"]]
    return {
        "git_sha": git_sha(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "rule": "fastest model whose accuracy loss vs shipped has a 95% paired-bootstrap upper "
        "bound <= 1 pt on every dev set and task (shared/PLAN.md); TFN valid not used",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "smoke": smoke,
        "dev_sets": {name: len(rows) for name, rows in dev.items()},
        "speed": {"batch": SPEED_BATCH, "texts": len(speed_texts), "rounds": SPEED_ROUNDS},
        "models": results,
        "choice": max(eligible, key=lambda n: results[n]["items_per_s_b64"]),
    }


def _judge(bundle: Any, dev: dict[str, list[Any]], texts: list[str]) -> dict[str, Any]:
    precision = bundle.manifest.serving.cpu
    outputs = score_sets(bundle, dev, precision)
    return {
        "version": bundle.version,
        "layers": bundle.manifest.base.layers,
        "precision": precision,
        "correct": {name: out[1] for name, out in outputs.items()},
        "accuracy": {
            name: {task: m["accuracy"] for task, m in out[0].items()}
            for name, out in outputs.items()
        },
        "items_per_s": _speed(bundle, precision, texts),
    }


def _speed(bundle: Any, precision: str, texts: list[str]) -> float:
    """Best of a few rounds of items/s over `texts` in batches of SPEED_BATCH."""
    from pipeline.model.runtime import ModelRuntime

    runtime = ModelRuntime(bundle, provider="cpu", precision=precision)  # type: ignore[arg-type]
    try:
        best = 0.0
        for _ in range(SPEED_ROUNDS):
            started = time.perf_counter()
            for i in range(0, len(texts), SPEED_BATCH):
                runtime.logits(texts[i : i + SPEED_BATCH])
            best = max(best, len(texts) / (time.perf_counter() - started))
        return round(best, 1)
    finally:
        runtime.close()


def _losses(
    base: dict[str, dict[str, list[bool]]], candidate: dict[str, dict[str, list[bool]]]
) -> dict[str, dict[str, float]]:
    from pipeline.model.judging import paired_accuracy_loss

    out: dict[str, dict[str, float]] = {}
    for name, tasks in base.items():
        for task, correct in tasks.items():
            interval = paired_accuracy_loss(correct, candidate[name][task])
            out[f"{name}.{task}"] = {k: round(v, 4) for k, v in interval.__dict__.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", type=Path, action="append", default=[])
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    report = compare(args.candidate, args.smoke)
    out = ROOT / "bench" / "results" / ("smoke" if args.smoke else "") / "model_choice.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for name, r in report["models"].items():
        print(
            f"{name}: {r['items_per_s_b64']} items/s ({r['speedup_vs_shipped']}x), "
            f"non-inferior {r['non_inferior_1pt']}"
        )
    print(f"choice: {report['choice']} -> {out}")


if __name__ == "__main__":
    main()
