"""The count detector (docs/spike-rule.md): how surprising a window's negative count and its
volume are, given the scope's own history shrunk toward the market. Pure functions."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.alerting.detection import Observation

P_FLOOR = 1e-300
OVERDISPERSION_CAP = 25.0
_NORMAL = NormalDist()


@dataclass(frozen=True)
class CountEvidence:
    """What the count detector measured for one window."""

    count: int
    negative: int
    expected_share: float
    expected_negative: float
    share_se: float
    p_negative: float
    z: float
    expected_count: float
    attention_z: float
    overdispersion: float

    def as_dict(self) -> dict[str, float]:
        return {
            "negative": self.negative,
            "expected_negative": self.expected_negative,
            "p_negative": self.p_negative,
            "expected_count": self.expected_count,
            "attention_z": self.attention_z,
            "overdispersion": self.overdispersion,
        }


def z_of(p: float) -> float:
    """The upper-tail probability p as a standard normal quantile (p = 0.00135 -> 3)."""
    return -_NORMAL.inv_cdf(min(max(p, P_FLOOR), 1 - 1e-12))


def binomial_upper_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed from k upward in log space."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    log_term = (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )
    term, total, odds = math.exp(log_term), 0.0, p / (1 - p)
    for j in range(k, n + 1):
        total += term
        if term < total * 1e-16:
            break
        term *= (n - j) / (j + 1) * odds
    return min(total, 1.0)


def poisson_upper_tail(n: int, mean: float) -> float:
    """P(N >= n) for N ~ Poisson(mean)."""
    if n <= 0:
        return 1.0
    log_term = n * math.log(mean) - mean - math.lgamma(n + 1)
    term, total, j = math.exp(log_term), 0.0, n
    while term > total * 1e-16 and j < n + 100_000:
        total += term
        j += 1
        term *= mean / j
    return min(total, 1.0)


def negatives(observation: Observation) -> int:
    return round(observation.negative_share * observation.count)


def pooled_share(windows: Sequence[Observation]) -> float | None:
    items = sum(w.count for w in windows)
    return sum(negatives(w) for w in windows) / items if items else None


def expected_share(
    baseline: Sequence[Observation], prior_share: float, prior_strength: float
) -> float:
    """The scope's negative share over its baseline, shrunk toward the prior (beta mean)."""
    items = sum(w.count for w in baseline)
    hits = sum(negatives(w) for w in baseline)
    share = (hits + prior_strength * prior_share) / (items + prior_strength or 1.0)
    floor = 0.5 / (items + prior_strength + 1)
    return min(max(share, floor), 1 - floor)


def share_overdispersion(baseline: Sequence[Observation], share: float) -> float:
    """Pearson chi-square per degree of freedom of the baseline's negative counts, >= 1."""
    used = [w for w in baseline if w.count > 0]
    if len(used) < 2:
        return 1.0
    chi2 = sum(
        (negatives(w) - w.count * share) ** 2 / (w.count * share * (1 - share)) for w in used
    )
    return min(max(chi2 / (len(used) - 1), 1.0), OVERDISPERSION_CAP)


def volume(baseline: Sequence[Observation]) -> tuple[float, float]:
    """(expected count, dispersion) of the scope's own baseline windows, empty ones included."""
    counts = [w.count for w in baseline]
    mean = (sum(counts) + 1) / (len(counts) + 1)  # one pseudo-window of one item: never 0
    variance = sum((c - mean) ** 2 for c in counts) / max(len(counts) - 1, 1)
    return mean, min(max(variance / mean, 1.0), OVERDISPERSION_CAP)


def attention(count: int, baseline: Sequence[Observation]) -> tuple[float, float]:
    """(expected count, volume z): the window's count against the scope's own baseline,
    Poisson with the baseline's overdispersion."""
    mean, dispersion = volume(baseline)
    return mean, z_of(poisson_upper_tail(count, mean)) / math.sqrt(dispersion)


@functools.lru_cache(maxsize=8192)
def baseline_figures(
    baseline: tuple[Observation, ...], prior_share: float, prior_strength: float
) -> tuple[float, float, float, float]:
    """(expected share, share overdispersion, expected count, volume dispersion): a baseline
    holds for a whole window length, so a scheduler or backtest computes them once."""
    share = expected_share(baseline, prior_share, prior_strength)
    return (share, share_overdispersion(baseline, share), *volume(baseline))


def measure(
    current: Observation,
    baseline: Sequence[Observation],
    prior_share: float,
    prior_strength: float,
    against: str = "share",
) -> CountEvidence:
    """The window's evidence, and volume. `against` "share": the negative count's binomial tail
    given the window's count; "volume": its Poisson tail against the negatives a window usually
    holds (expected count x expected share), so a surge of attention at the usual share counts."""
    share, phi, expected_count, dispersion = baseline_figures(
        tuple(baseline), prior_share, prior_strength
    )
    k, n = negatives(current), current.count
    attention_z = z_of(poisson_upper_tail(n, expected_count)) / math.sqrt(dispersion)
    if against == "volume":
        expected = expected_count * share
        p_negative = poisson_upper_tail(k, expected)
        z = z_of(p_negative) / math.sqrt(max(phi, dispersion))
    else:
        expected = n * share
        p_negative = binomial_upper_tail(k, n, share)
        z = z_of(p_negative) / math.sqrt(phi)
    se = math.sqrt(phi * share * (1 - share) / max(n, 1))
    return CountEvidence(n, k, share, expected, se, p_negative, z, expected_count, attention_z, phi)
