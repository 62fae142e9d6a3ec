"""GPU check: the served model on ONNX Runtime's CUDA and TensorRT providers, or an honest no.

Runs the serving path (`ModelRuntime`, tokenization included) with the fp16 file the service
serves on a GPU, on each GPU provider that starts, and compares its probabilities with the
fp32 file on CUDA. A host without an NVIDIA GPU gets no figures, says so and exits 0. How to
bring `onnxruntime-gpu` to a GPU host that lacks it: docs/gpu.md.

  python -m bench.gpu                      # a GPU host: writes bench/results/gpu.json
  python -m bench.gpu --out /tmp/gpu.json  # any host; the no-GPU result is written only here
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from onnxruntime.capi.onnxruntime_pybind11_state import EPFail, Fail, RuntimeException

from pipeline.errors import ModelError
from pipeline.model.bundle import ModelBundle
from pipeline.model.judging import softmax
from pipeline.model.runtime import BUCKET_ITEMS, ModelRuntime, PrecisionChoice
from pipeline.model.sessions import Provider, nvidia_device_present

ROOT = Path(__file__).resolve().parents[1]
RESULT = ROOT / "bench" / "results" / "gpu.json"
TFN = Path(
    os.environ.get("FINSENT_TFN_DIR", ROOT.parent / "shared" / "data" / "twitter_financial_news")
)
DEMO_STREAM = ROOT / "pipeline" / "data" / "demo_stream.jsonl"
BATCHES = (1, 8, 32, 128)
MIN_TEXTS = 2048  # agreement is judged on at least this many texts
THROUGHPUT_GOAL = 20_000.0  # items/s, CUDA fp16 at batch 128 on the H200 (issue 15)
AGREEMENT_GOAL = 0.995  # fp16-vs-fp32 top-label agreement, the lower of the two tasks
REFERENCE = "cuda fp32"
AGREEMENT = "agreement_with_cuda_fp32"
TASKS = ("topic", "sentiment")
# A session that did not start: ModelRuntime's refusal, or what ONNX Runtime raises when a
# provider fails at its first run (TensorRT builds its engine then).
NOT_STARTED = (ModelError, EPFail, Fail, RuntimeException)

Verdict = Literal["met", "missed", "not measured"]
Probabilities = dict[str, NDArray[np.float64]]  # task -> (texts, classes)

log = logging.getLogger("bench.gpu")


@dataclass(frozen=True)
class TaskAgreement:
    """How far a candidate's probabilities are from the reference's, on one task."""

    label_agreement: float  # share of texts with the same top label
    max_abs_probability_diff: float


@dataclass(frozen=True)
class Throughput:
    items_per_s: float
    warm_up_s: float  # the untimed pass over the same texts and shapes


@dataclass
class Report:
    """What the check found; goals and summary are derived, so a partial report is whole."""

    facts: dict[str, Any]
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        goals = judge_goals(self.sessions)
        summary = summary_line(bool(self.facts["gpu_present"]), self.sessions, goals)
        return {**self.facts, "sessions": self.sessions, "goals": goals, "summary": summary}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    bundle = ModelBundle.load(args.bundle) if args.bundle else _shipped_bundle()
    report = Report(facts=_facts(bundle, args.git_sha))
    if not report.facts["gpu_present"]:
        return _finish(report, args.out)
    out = args.out or RESULT
    source, texts = load_texts(args.tfn_dir)
    report.facts["texts"] = {"source": source, "count": len(texts)}
    reference = _measure_reference(bundle, texts, report)
    _write(report, out)
    for provider in args.providers:
        name = f"{provider} fp16"
        report.sessions[name] = measure_session(bundle, provider, texts, BATCHES, reference)
        _write(report, out)
    return _finish(report, out)


def measure_session(
    bundle: ModelBundle,
    provider: Provider,
    texts: Sequence[str],
    batches: Sequence[int],
    reference: Probabilities | None,
    precision: PrecisionChoice = "fp16",
) -> dict[str, Any]:
    """One session's record: the providers it really ran on, its speed and its agreement."""
    started = time.perf_counter()
    try:
        runtime = ModelRuntime(bundle, provider=provider, precision=precision)
    except NOT_STARTED as e:
        return _not_started(provider, precision, e)
    try:
        record = _session_facts(runtime, provider, time.perf_counter() - started)
        record["priming_s"] = round(prime_shapes(runtime), 2)
        speeds = {str(b): measure_throughput(runtime.classify, texts, b) for b in batches}
        record["items_per_s_by_batch"] = {b: t.items_per_s for b, t in speeds.items()}
        record["warm_up_s_by_batch"] = {b: t.warm_up_s for b, t in speeds.items()}
        if reference is not None:
            agreement = compare(reference, served_probabilities(runtime, texts))
            record[AGREEMENT] = {task: asdict(a) for task, a in agreement.items()}
        return record
    finally:
        runtime.close()


def measure_throughput(
    classify: Callable[[Sequence[str]], object], texts: Sequence[str], batch: int
) -> Throughput:
    """Items/s over `texts` in calls of `batch`, after an untimed pass over the same calls."""
    warm_up = _pass_seconds(classify, texts, batch)
    timed = _pass_seconds(classify, texts, batch)
    return Throughput(round(len(texts) / timed, 1), round(warm_up, 2))


def prime_shapes(runtime: ModelRuntime) -> float:
    """Seconds to run the smallest and largest input shapes once.

    TensorRT builds a new engine whenever a shape falls outside those it has seen; running the
    extremes first keeps those builds out of the timed passes.
    """
    long_text = "shares rise " * runtime.max_length
    started = time.perf_counter()
    runtime.classify([""])
    runtime.classify(["ok"] * BUCKET_ITEMS)
    runtime.classify([long_text] * BUCKET_ITEMS)
    return time.perf_counter() - started


def served_probabilities(runtime: ModelRuntime, texts: Sequence[str]) -> Probabilities:
    """Calibrated probabilities per task, as the service computes them from the logits."""
    topic, sentiment = runtime.logits(texts)
    return {
        task: softmax(logits, runtime.bundle.temperature(runtime.precision, task))
        for task, logits in zip(TASKS, (topic, sentiment), strict=True)
    }


def compare(reference: Probabilities, candidate: Probabilities) -> dict[str, TaskAgreement]:
    """Top-label agreement and the largest probability difference, per task."""
    return {
        task: TaskAgreement(
            label_agreement=float(
                np.mean(reference[task].argmax(axis=1) == candidate[task].argmax(axis=1))
            ),
            max_abs_probability_diff=float(np.abs(reference[task] - candidate[task]).max()),
        )
        for task in reference
    }


def verdict(target: float, measured: float | None) -> Verdict:
    if measured is None:
        return "not measured"
    return "met" if measured >= target else "missed"


def judge_goals(sessions: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The issue's GPU goals, judged on the CUDA fp16 session (None when it did not run)."""
    cuda = sessions.get("cuda fp16", {})
    speed = cuda.get("items_per_s_by_batch", {}).get("128")
    agreement = cuda.get(AGREEMENT)
    lowest = min(a["label_agreement"] for a in agreement.values()) if agreement else None
    return {
        "cuda_fp16_items_per_s_at_batch_128": _goal(THROUGHPUT_GOAL, speed),
        "cuda_fp16_vs_fp32_label_agreement": _goal(AGREEMENT_GOAL, lowest),
    }


def summary_line(
    gpu_present: bool, sessions: dict[str, dict[str, Any]], goals: dict[str, dict[str, Any]]
) -> str:
    if not gpu_present:
        return "no NVIDIA GPU on this host (no /dev/nvidia*): no GPU figures, goals not measured"
    parts = [_session_summary(name, record) for name, record in sessions.items()]
    parts += [f"goal {name} >= {goal['target']}: {goal['verdict']}" for name, goal in goals.items()]
    return "; ".join(parts)


def load_texts(tfn_dir: Path) -> tuple[str, list[str]]:
    """The fixed text set: TFN's two valid splits when present (the CPU figures' set), else
    the packaged demo stream's headlines."""
    splits = [tfn_dir / "sentiment" / "sent_valid.csv", tfn_dir / "topic" / "topic_valid.csv"]
    if all(path.is_file() for path in splits):
        texts = [row["text"] for path in splits for row in _csv_rows(path)]
        source = f"twitter_financial_news valid splits ({tfn_dir})"
    else:
        lines = DEMO_STREAM.read_text(encoding="utf-8").splitlines()
        texts = [json.loads(line)["headline"] for line in lines if line.strip()]
        source = f"packaged demo stream headlines ({tfn_dir} not found)"
    if len(texts) < MIN_TEXTS:
        raise SystemExit(f"{source}: {len(texts)} texts, the check needs {MIN_TEXTS}")
    return source, texts


def provider_library_error(provider: str) -> str | None:
    """Why ONNX Runtime's shared library for `provider` cannot load here (None: it loads).

    ONNX Runtime prints this reason to stderr and then reports only that the provider did not
    start; loading the library ourselves puts the missing CUDA/cuDNN/TensorRT file on record.
    """
    import ctypes

    library = Path(ort.__file__).parent / "capi" / f"libonnxruntime_providers_{provider}.so"
    if not library.is_file():
        return f"{library} does not exist (is this the CPU build of onnxruntime?)"
    try:
        ctypes.CDLL(str(library))
    except OSError as e:
        return str(e)
    return None


def _measure_reference(
    bundle: ModelBundle, texts: Sequence[str], report: Report
) -> Probabilities | None:
    """CUDA fp32's probabilities (what fp16 is compared with), recording its session."""
    started = time.perf_counter()
    try:
        runtime = ModelRuntime(bundle, provider="cuda", precision="fp32")
    except NOT_STARTED as e:
        report.sessions[REFERENCE] = _not_started("cuda", "fp32", e)
        return None
    try:
        report.sessions[REFERENCE] = _session_facts(runtime, "cuda", time.perf_counter() - started)
        return served_probabilities(runtime, texts)
    finally:
        runtime.close()


def _session_facts(runtime: ModelRuntime, provider: str, load_s: float) -> dict[str, Any]:
    return {
        "provider": provider,
        "precision": runtime.precision,
        "session_providers": runtime.session_providers,
        "active_provider": runtime.session_providers[0],
        "load_s": round(load_s, 2),
    }


def _not_started(provider: str, precision: str, error: Exception) -> dict[str, Any]:
    log.warning("%s %s did not start: %s", provider, precision, error)
    return {
        "provider": provider,
        "precision": precision,
        "error": f"{type(error).__name__}: {error}"[:1000],
        "provider_library_error": provider_library_error(provider),
    }


def _session_summary(name: str, record: dict[str, Any]) -> str:
    if "error" in record:
        return f"{name}: did not start ({record['provider_library_error'] or record['error']})"
    speed = record.get("items_per_s_by_batch", {}).get("128")
    at_128 = f", {speed:,.0f} items/s at batch 128" if speed is not None else ""
    return f"{name}: active {record['active_provider']}{at_128}"


def _goal(target: float, measured: float | None) -> dict[str, Any]:
    return {"target": target, "measured": measured, "verdict": verdict(target, measured)}


def _pass_seconds(
    classify: Callable[[Sequence[str]], object], texts: Sequence[str], batch: int
) -> float:
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        classify(texts[start : start + batch])
    return time.perf_counter() - started


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _facts(bundle: ModelBundle, git_sha: str | None) -> dict[str, Any]:
    gpu_name, driver = _nvidia_smi()
    return {
        "git_sha": git_sha or _git_sha(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "gpu_present": nvidia_device_present(),
        "gpu_name": gpu_name,
        "gpu_driver": driver,
        "onnxruntime": {
            "version": ort.__version__,
            "package": getattr(ort, "package_name", None),
            "built_for_cuda": getattr(ort, "cuda_version", None) or None,
            "location": str(Path(ort.__file__).parent),
            "available_providers": ort.get_available_providers(),
        },
        "model": {"version": bundle.version, "path": str(bundle.path)},
        "runtime_bucket_items": BUCKET_ITEMS,
    }


def _nvidia_smi() -> tuple[str | None, str | None]:
    query = ["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"]
    try:
        out = subprocess.run(query, capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        return None, None
    first = out.stdout.strip().splitlines()[:1]
    if out.returncode != 0 or not first:
        return None, None
    name, _, driver = first[0].partition(",")
    return name.strip(), driver.strip() or None


def _git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    except FileNotFoundError:
        return "unknown (no git here: pass --git-sha)"
    return out.stdout.strip() or "unknown (not a git checkout: pass --git-sha)"


def _shipped_bundle() -> ModelBundle:
    from pipeline.model.shipped import shipped_bundle

    return shipped_bundle()


def _finish(report: Report, out: Path | None) -> int:
    result = report.as_json()
    print(json.dumps(result, indent=2))
    if out is not None:
        _write(report, out)
        print(f"written to {out}")
    print(result["summary"])
    if not report.facts["gpu_present"]:
        return 0
    measured = any("items_per_s_by_batch" in r for r in report.sessions.values())
    return 0 if measured else 1


def _write(report: Report, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--bundle", type=Path, default=None, help="default: the shipped model")
    p.add_argument("--out", type=Path, default=None, help=f"default on a GPU host: {RESULT}")
    p.add_argument("--tfn-dir", type=Path, default=TFN, help="Twitter Financial News data")
    p.add_argument(
        "--providers",
        nargs="+",
        choices=("cuda", "tensorrt"),
        default=["cuda", "tensorrt"],
        help="GPU providers to measure with fp16, in this order (CUDA's figures are the goal's)",
    )
    p.add_argument("--git-sha", default=None, help="the tree's commit, where git is missing")
    return p.parse_args(argv)


if __name__ == "__main__":
    raise SystemExit(main())
