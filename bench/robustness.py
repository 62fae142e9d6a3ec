"""The shipped model's robustness report (shared/PLAN.md), written by `python -m bench.accuracy`.

Per kind of text and per CPU precision: sentiment accuracy, macro-F1 and recall of each class;
topic accuracy and macro-F1 where labelled; ECE before and after the bundle's temperature.
TFN valid is the final report only; the dev objective is the mean sentiment macro-F1 over
TFN dev, TFN dev style-shifted, held-out grammar headlines and the formal gold set.
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TFN = Path(os.environ.get("FINSENT_TFN_DIR", SHARED / "data" / "twitter_financial_news"))
TFN_DEV = SHARED / "models" / "tfn-minilm-c" / "dev.jsonl"
OBJECTIVE_SETS = ("tfn_dev", "tfn_dev_style_shifted", "grammar_headlines_held_out", "gold_all")
SMOKE_ROWS = 100

log = logging.getLogger("bench.robustness")


def shipped_report(smoke: bool = False, bundle: Path | None = None) -> dict[str, Any]:
    from pipeline.model.bundle import ModelBundle
    from pipeline.model.shipped import shipped_bundle

    load_before = os.getloadavg()
    model = ModelBundle.load(bundle) if bundle else shipped_bundle()
    sets = eval_sets(SMOKE_ROWS if smoke else None)
    served = model.manifest.serving.cpu
    precisions = (served, "fp32") if served != "fp32" else ("fp32",)
    outputs = {p: score_sets(model, sets, p) for p in precisions}
    scores = {name: {p: outputs[p][name][0] for p in precisions} for name in sets}
    report: dict[str, Any] = {
        "git_sha": git_sha(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_version": model.version,
        "model": "shipped" if bundle is None else str(bundle),
        "served_cpu_precision": served,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "smoke": smoke,
        "sets": {name: {"rows": len(rows), **scores[name]} for name, rows in sets.items()},
        "dev_objective": _objective(scores, served),
        "calibration": model.manifest.calibration,
        "int8_decision": {
            "serving": model.manifest.serving.model_dump(),
            "tfn_dev_loss_fp32_minus_int8": model.manifest.metrics.get("int8_loss"),
        },
    }
    if "fp32" in outputs and served != "fp32":
        report["int8_vs_fp32_this_run"] = _paired(outputs["fp32"], outputs[served])
    report["goals"] = _goals(scores, served)
    return report


def eval_sets(limit: int | None) -> dict[str, list[Any]]:
    from pipeline.training.data import DataSource, load_rows
    from pipeline.training.dev_sets import gold_sets, held_out_headlines, tfn_dev_sets

    found = [*tfn_dev_sets(TFN_DEV), held_out_headlines(), *gold_sets()]
    sets = {s.name: s.rows for s in found}
    sets["tfn_valid_sentiment"] = load_rows(
        [DataSource.parse(f"{TFN / 'sentiment' / 'sent_valid.csv'}:label=sentiment")]
    )
    sets["tfn_valid_topic"] = load_rows(
        [DataSource.parse(f"{TFN / 'topic' / 'topic_valid.csv'}:label=topic")]
    )
    if limit is None:
        return sets
    return {k: random.Random(0).sample(v, min(limit, len(v))) for k, v in sets.items()}


def score_sets(
    model: Any, sets: dict[str, list[Any]], precision: str
) -> dict[str, tuple[dict[str, Any], dict[str, list[bool]]]]:
    from pipeline.model.runtime import ModelRuntime

    runtime = ModelRuntime(model, provider="cpu", precision=precision)  # type: ignore[arg-type]
    try:
        result = {}
        for name, rows in sets.items():
            topic, sentiment = runtime.logits([r.text for r in rows])
            logits = {"topic": topic, "sentiment": sentiment}
            result[name] = _score(model, precision, rows, logits)
            log.info("%s %s: %s", precision, name, _headline(result[name][0]))
        return result
    finally:
        runtime.close()


def _score(
    model: Any, precision: str, rows: list[Any], logits: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[bool]]]:
    from pipeline.model.judging import expected_calibration_error, softmax
    from pipeline.model.labels import SENTIMENTS
    from pipeline.training.metrics import task_metrics

    scores: dict[str, Any] = {}
    correct: dict[str, list[bool]] = {}
    for task, names in (("topic", model.manifest.labels.topics), ("sentiment", SENTIMENTS)):
        picked = [i for i, r in enumerate(rows) if getattr(r, task) is not None]
        if not picked:
            continue
        z = logits[task][picked]
        truth = np.asarray([getattr(rows[i], task) for i in picked])
        predicted = z.argmax(axis=1)
        metrics = task_metrics(truth.tolist(), predicted.tolist(), names)
        t = model.temperature(precision, task)
        scores[task] = {
            "rows": len(picked),
            "accuracy": round(metrics["accuracy"], 4),
            "macro_f1": round(metrics["macro_f1"], 4),
            "ece": round(expected_calibration_error(softmax(z, t), truth), 4),
            "ece_uncalibrated": round(expected_calibration_error(softmax(z), truth), 4),
            "mean_confidence": round(float(softmax(z, t).max(axis=1).mean()), 4),
        }
        if task == "sentiment":
            per_class = metrics["per_class"]
            scores[task]["recall"] = {c: round(per_class[c]["recall"], 4) for c in SENTIMENTS}
            scores[task]["f1"] = {c: round(per_class[c]["f1"], 4) for c in SENTIMENTS}
            scores[task]["predicted_share"] = {
                c: round(float((predicted == i).mean()), 4) for i, c in enumerate(SENTIMENTS)
            }
        else:
            scores[task]["min_class_f1"] = round(
                min(v["f1"] for v in metrics["per_class"].values() if v["support"]), 4
            )
        correct[task] = (predicted == truth).tolist()
    return scores, correct


def _headline(scores: dict[str, Any]) -> str:
    return ", ".join(
        f"{t} acc {m['accuracy']:.3f} f1 {m['macro_f1']:.3f}" for t, m in scores.items()
    )


def _objective(scores: dict[str, dict[str, Any]], precision: str) -> dict[str, Any]:
    parts = {n: scores[n][precision]["sentiment"]["macro_f1"] for n in OBJECTIVE_SETS}
    return {"value": round(float(np.mean(list(parts.values()))), 4), "parts": parts}


def _paired(
    fp32: dict[str, tuple[dict[str, Any], dict[str, list[bool]]]],
    served: dict[str, tuple[dict[str, Any], dict[str, list[bool]]]],
) -> dict[str, Any]:
    from pipeline.model.judging import paired_accuracy_loss

    out: dict[str, Any] = {}
    for name in ("tfn_dev", "gold_all"):
        for task in fp32[name][1]:
            interval = paired_accuracy_loss(fp32[name][1][task], served[name][1][task])
            out[f"{name}.{task}"] = {k: round(v, 4) for k, v in interval.__dict__.items()}
    return out


def _goals(scores: dict[str, dict[str, Any]], p: str) -> list[dict[str, Any]]:
    valid_s = scores["tfn_valid_sentiment"][p]["sentiment"]
    valid_t = scores["tfn_valid_topic"][p]["topic"]
    goals = [
        ("TFN valid sentiment accuracy", valid_s["accuracy"], ">=", 0.89),
        ("TFN valid topic accuracy", valid_t["accuracy"], ">=", 0.91),
        ("TFN valid topic macro-F1", valid_t["macro_f1"], ">=", 0.88),
        ("TFN valid smallest sentiment class F1", min(valid_s["f1"].values()), ">=", 0.75),
        ("TFN valid smallest topic class F1", valid_t["min_class_f1"], ">=", 0.75),
        ("TFN valid sentiment ECE", valid_s["ece"], "<=", 0.03),
    ]
    for name in ("gold_all", "tfn_dev_style_shifted"):
        sentiment = scores[name][p]["sentiment"]
        for polar in ("positive", "negative"):
            goals.append((f"{name} recall of {polar}", sentiment["recall"][polar], ">=", 0.80))
        gap = valid_s["accuracy"] - sentiment["accuracy"]
        goals.append((f"{name} sentiment accuracy below TFN valid by (pt)", gap, "<=", 0.03))
    return [
        {
            "goal": goal,
            "value": round(value, 4),
            "target": f"{op} {target}",
            "met": value >= target if op == ">=" else value <= target,
        }
        for goal, value, op, target in goals
    ]


def git_sha() -> str:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() or "unknown"
