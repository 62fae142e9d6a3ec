"""Classification metrics per task: accuracy, macro-F1, per-class report, confusion matrix."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray


def task_metrics(
    truth: Sequence[int], predicted: Sequence[int], names: Sequence[str]
) -> dict[str, Any]:
    """Metrics of one task; macro-F1 averages the classes present in truth or predictions."""
    y = np.asarray(truth, dtype=np.int64)
    p = np.asarray(predicted, dtype=np.int64)
    confusion = np.zeros((len(names), len(names)), dtype=np.int64)
    np.add.at(confusion, (y, p), 1)
    per_class = {name: _class_report(confusion, i) for i, name in enumerate(names)}
    present = [i for i in range(len(names)) if confusion[i].sum() or confusion[:, i].sum()]
    f1s = [per_class[names[i]]["f1"] for i in present]
    return {
        "rows": len(y),
        "accuracy": float((y == p).mean()) if len(y) else 0.0,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "per_class": per_class,
        "labels": list(names),
        "confusion": confusion.tolist(),
    }


def agreement(first: Sequence[int], second: Sequence[int]) -> float:
    """The fraction of items on which two models predict the same class."""
    a = np.asarray(first)
    b = np.asarray(second)
    return float((a == b).mean()) if len(a) else 1.0


def selection_score(metrics: dict[str, dict[str, Any]]) -> float:
    """Checkpoint selection: the mean of accuracy and macro-F1 over the tasks evaluated."""
    values = [m[k] for m in metrics.values() for k in ("accuracy", "macro_f1")]
    return float(np.mean(values)) if values else 0.0


def _class_report(confusion: NDArray[np.int64], i: int) -> dict[str, float]:
    hits = float(confusion[i, i])
    support = float(confusion[i].sum())
    predicted = float(confusion[:, i].sum())
    precision = hits / predicted if predicted else 0.0
    recall = hits / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": support}
