"""How models are judged (shared/PLAN.md): calibration error, temperature, paired bootstrap.

numpy only: the runtime, the export and the benchmarks use the same definitions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

ECE_BINS = 15
BOOTSTRAP_RESAMPLES = 2_000


def softmax(logits: ArrayLike, temperature: float = 1.0) -> NDArray[np.float64]:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    probabilities: NDArray[np.float64] = z / z.sum(axis=1, keepdims=True)
    return probabilities


def expected_calibration_error(
    probabilities: ArrayLike, labels: ArrayLike, bins: int = ECE_BINS
) -> float:
    """ECE over equal-width bins of the top label's confidence."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if len(y) == 0:
        return 0.0
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    which = np.minimum((confidence * bins).astype(np.int64), bins - 1)
    error = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            error += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(error)


def fit_temperature(logits: ArrayLike, labels: ArrayLike) -> float:
    """The temperature that minimises the negative log-likelihood (golden-section on log T)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)

    def nll(log_t: float) -> float:
        p = softmax(z, float(np.exp(log_t)))
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())

    lo, hi = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5.0) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    for _ in range(80):
        if nll(a) < nll(b):
            hi, b = b, a
            a = hi - ratio * (hi - lo)
        else:
            lo, a = a, b
            b = lo + ratio * (hi - lo)
    return float(np.exp((lo + hi) / 2))


@dataclass(frozen=True)
class PairedInterval:
    """A 95 % paired-bootstrap interval of `first`'s accuracy minus `second`'s."""

    mean: float
    low: float
    high: float
    rows: int


def paired_accuracy_loss(
    first_correct: ArrayLike,
    second_correct: ArrayLike,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 13,
) -> PairedInterval:
    """Accuracy loss of the second model against the first, resampling the same rows for both."""
    a = np.asarray(first_correct, dtype=np.float64)
    b = np.asarray(second_correct, dtype=np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired bootstrap needs two equal, non-empty sets of rows")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, a.size, size=(resamples, a.size))
    losses = (a[picks] - b[picks]).mean(axis=1)
    low, high = np.quantile(losses, [0.025, 0.975])
    return PairedInterval(float((a - b).mean()), float(low), float(high), int(a.size))
