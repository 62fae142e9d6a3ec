"""Spike detection (DESIGN §5): the count detector (docs/spike-rule.md), or a robust z of the
negative share against a median/MAD baseline, or EWMA. Pure."""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pipeline.alerting.count_evidence import measure, pooled_share
from pipeline.alerting.rules import Rule
from pipeline.scope import Scope

MAD_TO_SIGMA = 1.4826
Status = Literal["spike", "quiet", "warming_up", "below_minimum"]


@dataclass(frozen=True)
class Observation:
    """A window's count and negative share; baseline windows are given oldest first."""

    count: int
    negative_share: float


@dataclass(frozen=True)
class Verdict:
    status: Status
    value: float
    count: int
    median: float
    scale: float
    z: float
    baseline_windows: int
    severity: Literal["warning", "critical"] | None
    evidence: Mapping[str, float] = field(default_factory=dict)

    @property
    def condition(self) -> bool:
        return self.status == "spike"


def verdict_figures(rule: Rule, kind: str, verdict: Verdict) -> dict[str, object]:
    """What an alert's explanation says about the rule and its verdict (live and backtest)."""
    return {
        "detector": rule.detector,
        "value": verdict.value,
        "count": verdict.count,
        "baseline_median": verdict.median,
        "baseline_scale": verdict.scale,
        "baseline_windows": verdict.baseline_windows,
        "z": verdict.z,
        "threshold": rule.z_threshold,
        "min_count": rule.minimum(kind),
        "min_negative_share": rule.min_negative_share,
        "evidence": dict(verdict.evidence),
    }


def is_judged(
    scope: str, current: Observation, unlisted_min_count: int, issuers: Collection[str]
) -> bool:
    """Whether a scope's window is judged at all: a ticker outside the company dictionary only
    from `unlisted_min_count` (window evidence), since every cashtag is a scope and the rare
    ones are mostly spam. The live scheduler and the backtest both ask here."""
    found = Scope.read(scope)
    return found.kind != "ticker" or found.key in issuers or current.count >= unlisted_min_count


def robust_z(x: float, baseline: Sequence[float], sigma_min: float) -> tuple[float, float, float]:
    """(median, scale, z) with scale = max(1.4826 · MAD, sigma_min)."""
    median = statistics.median(baseline)
    mad = statistics.median(abs(v - median) for v in baseline)
    scale = max(MAD_TO_SIGMA * mad, sigma_min)
    return median, scale, (x - median) / scale


def ewma_z(
    x: float, baseline: Sequence[float], alpha: float, sigma_min: float
) -> tuple[float, float, float]:
    """(mean, scale, z) from an exponentially weighted mean and variance, oldest first."""
    mean, variance = baseline[0], 0.0
    for value in baseline[1:]:
        delta = value - mean
        mean += alpha * delta
        variance = (1 - alpha) * (variance + alpha * delta * delta)
    scale = max(math.sqrt(variance), sigma_min)
    return mean, scale, (x - mean) / scale


def severity_of(rule: Rule, z: float, share: float) -> Literal["warning", "critical"] | None:
    if z >= rule.critical_z and share >= rule.critical_negative_share:
        return "critical"
    return "warning" if z >= rule.z_threshold else None


def evaluate(
    rule: Rule,
    kind: str,
    current: Observation,
    baseline: Sequence[Observation],
    prior: Sequence[Observation] = (),
) -> Verdict:
    """Judge one scope's current window against its baseline windows, oldest first (empty ones
    count for volume, not for warm-up); `prior` is the market's baseline (count detector)."""
    shares = [b.negative_share for b in baseline if b.count > 0]
    x = current.negative_share
    if len(shares) < rule.min_baseline_windows:
        nan = math.nan
        return Verdict("warming_up", x, current.count, nan, nan, nan, len(shares), None)
    if rule.detector == "count":
        return _count_verdict(rule, kind, current, baseline, prior, len(shares))
    if rule.detector == "ewma":
        center, scale, z = ewma_z(x, shares, rule.ewma_alpha, rule.sigma_min)
    else:
        center, scale, z = robust_z(x, shares, rule.sigma_min)
    severity = severity_of(rule, z, x)
    status: Status = "quiet"
    if current.count < rule.minimum(kind):
        status = "below_minimum"
    elif severity is not None and x >= rule.min_negative_share:
        status = "spike"
    return Verdict(status, x, current.count, center, scale, z, len(shares), severity)


def _count_verdict(
    rule: Rule,
    kind: str,
    current: Observation,
    baseline: Sequence[Observation],
    prior: Sequence[Observation],
    used: int,
) -> Verdict:
    market = pooled_share(prior)
    prior_share = rule.prior_negative_share if market is None else market
    found = measure(current, baseline, prior_share, rule.prior_strength, rule.negative_test)
    x = current.negative_share
    severity = severity_of(rule, found.z, x) if found.attention_z >= rule.attention_z else None
    status: Status = "quiet"
    if current.count < rule.minimum(kind):
        status = "below_minimum"
    elif severity is not None and x >= rule.min_negative_share:
        status = "spike"
    return Verdict(
        status,
        x,
        current.count,
        found.expected_share,
        found.share_se,
        found.z,
        used,
        severity,
        found.as_dict(),
    )
