"""Evaluate a checkpoint or a bundle on labeled files: metrics JSON and confusion-matrix PNGs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pipeline.model.bundle import MANIFEST_NAME, ModelBundle
from pipeline.model.encoding import TextEncoder
from pipeline.model.labels import SENTIMENTS
from pipeline.model.runtime import ModelRuntime, PrecisionChoice
from pipeline.training.checkpoint import META_NAME, Checkpoint
from pipeline.training.data import LabeledRow
from pipeline.training.metrics import task_metrics

Task = Literal["topic", "sentiment"]


def predict_labels(
    target: Path, texts: Sequence[str], precision: PrecisionChoice = "auto", device: str = "cpu"
) -> tuple[dict[str, list[int]], dict[str, Any]]:
    """Class ids per task for `texts`, and a description of what predicted them."""
    if (target / MANIFEST_NAME).is_file():
        return _bundle_predictions(ModelBundle.load(target), texts, precision)
    if (target / META_NAME).is_file():
        return _checkpoint_predictions(Checkpoint.open(target), texts, device)
    raise FileNotFoundError(f"{target} is neither a model bundle nor a training checkpoint")


def score_rows(
    rows: Sequence[LabeledRow], predicted: dict[str, list[int]], topics: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Metrics per task, over the rows labeled for that task."""
    metrics: dict[str, dict[str, Any]] = {}
    for task, names in (("topic", topics), ("sentiment", SENTIMENTS)):
        pairs = [(i, getattr(r, task)) for i, r in enumerate(rows) if getattr(r, task) is not None]
        if pairs:
            truth = [label for _, label in pairs]
            metrics[task] = task_metrics(truth, [predicted[task][i] for i, _ in pairs], names)
    return metrics


def evaluate(
    target: Path,
    rows: Sequence[LabeledRow],
    *,
    precision: PrecisionChoice = "auto",
    device: str = "cpu",
    out_json: Path | None = None,
    png_dir: Path | None = None,
) -> dict[str, Any]:
    """Evaluates `target` on `rows`; writes the report and PNGs when asked to."""
    predicted, described = predict_labels(target, [r.text for r in rows], precision, device)
    report = {
        **described,
        "rows": len(rows),
        "tasks": score_rows(rows, predicted, described["topics"]),
    }
    if out_json is not None:
        out_json.parent.mkdir(parents=True, exist_ok=True)
        out_json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if png_dir is not None:
        report["figures"] = [str(p) for p in write_confusion_pngs(report["tasks"], png_dir)]
    return report


def write_confusion_pngs(tasks: dict[str, dict[str, Any]], directory: Path) -> list[Path]:
    """One row-normalised confusion matrix per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for task, metrics in tasks.items():
        counts = np.asarray(metrics["confusion"], dtype=float)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        size = 3 + 0.45 * len(metrics["labels"])
        fig, ax = plt.subplots(figsize=(size + 1.5, size))
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(metrics["labels"])), metrics["labels"], rotation=60, ha="right")
        ax.set_yticks(range(len(metrics["labels"])), metrics["labels"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        title = f"{task}: accuracy {metrics['accuracy']:.3f}, macro-F1 {metrics['macro_f1']:.3f}"
        ax.set_title(title)
        fig.colorbar(image, ax=ax, fraction=0.046)
        fig.tight_layout()
        path = directory / f"confusion_{task}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def _bundle_predictions(
    bundle: ModelBundle, texts: Sequence[str], precision: PrecisionChoice
) -> tuple[dict[str, list[int]], dict[str, Any]]:
    runtime = ModelRuntime(bundle, provider="cpu", precision=precision)
    try:
        predictions = runtime.classify(texts)
    finally:
        runtime.close()
    topics = bundle.manifest.labels.topics
    predicted = {
        "topic": [topics.index(p.topic) for p in predictions],
        "sentiment": [SENTIMENTS.index(p.sentiment) for p in predictions],
    }
    described = {
        "target": str(bundle.path),
        "kind": "bundle",
        "model_version": bundle.version,
        "precision": runtime.precision,
        "topics": list(topics),
    }
    return predicted, described


def _checkpoint_predictions(
    checkpoint: Checkpoint, texts: Sequence[str], device: str
) -> tuple[dict[str, list[int]], dict[str, Any]]:
    import torch

    from pipeline.training.model import predict_probabilities

    model = checkpoint.load_model().to(torch.device(device))
    encoder = TextEncoder(checkpoint.tokenizer, checkpoint.max_length)
    ids = encoder.token_ids(texts)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batches = []
    for start in range(0, len(order), 128):
        padded = encoder.pad([ids[i] for i in order[start : start + 128]])
        batches.append({k: torch.from_numpy(v) for k, v in padded.feed().items()})
    topic_p, sentiment_p = predict_probabilities(model, batches, torch.device(device))
    predicted: dict[str, list[int]] = {"topic": [0] * len(ids), "sentiment": [0] * len(ids)}
    for k, i in enumerate(order):
        predicted["topic"][i] = int(topic_p[k].argmax())
        predicted["sentiment"][i] = int(sentiment_p[k].argmax())
    described = {
        "target": str(checkpoint.path),
        "kind": "checkpoint",
        "precision": "torch-fp32",
        "topics": list(checkpoint.meta["labels"]["topics"]),
    }
    return predicted, described
