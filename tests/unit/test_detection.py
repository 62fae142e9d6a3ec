"""The spike rules of DESIGN §5, table-driven: the count detector, robust z, minimums, warm-up,
severity, EWMA."""

from __future__ import annotations

import math

import pytest

from pipeline.alerting.count_evidence import binomial_upper_tail, poisson_upper_tail
from pipeline.alerting.detection import Observation, evaluate, ewma_z, robust_z
from pipeline.alerting.rules import Rule, build_rule
from pipeline.settings import AlertSettings


def rule(**overrides: object) -> Rule:
    return build_rule({"name": "t", **overrides}, AlertSettings(), "test")


def calm(share: float, windows: int = 24, count: int = 20) -> list[Observation]:
    return [Observation(count, share)] * windows


def with_burst(windows: int, burst: int, share: float, burst_share: float) -> list[Observation]:
    return [Observation(20, burst_share if 8 <= i < 8 + burst else share) for i in range(windows)]


@pytest.mark.parametrize(
    ("kind", "current", "baseline", "status", "z", "severity"),
    [
        pytest.param("ticker", Observation(10, 0.5), calm(0.0), "spike", 10.0, "warning",
                     id="all-zero baseline: sigma floor, spike"),
        pytest.param("ticker", Observation(10, 0.1), calm(0.0), "quiet", 2.0, None,
                     id="all-zero baseline: small share stays quiet"),
        pytest.param("ticker", Observation(10, 0.8), calm(0.0), "spike", 16.0, "critical",
                     id="critical needs z >= 5 and share >= 0.6"),
        pytest.param("ticker", Observation(10, 0.5), calm(0.1), "spike", 8.0, "warning",
                     id="z >= 5 but share under 0.6: warning"),
        pytest.param("ticker", Observation(10, 0.1),
                     [*calm(0.1, 23), Observation(20, 0.9)], "quiet", 0.0, None,
                     id="single outlier in the baseline does not move the median"),
        pytest.param("ticker", Observation(10, 0.1), with_burst(24, 5, 0.1, 0.8), "quiet", 0.0,
                     None, id="burst inside the baseline span: still quiet afterwards"),
        pytest.param("ticker", Observation(10, 0.6), with_burst(24, 5, 0.1, 0.8), "spike", 10.0,
                     "critical", id="burst inside the baseline span: a new burst still fires"),
        pytest.param("ticker", Observation(4, 1.0), calm(0.0), "below_minimum", 20.0,
                     "critical", id="ticker under its minimum count of 5"),
        pytest.param("market", Observation(29, 0.9), calm(0.0), "below_minimum", 18.0,
                     "critical", id="market under its minimum count of 30"),
        pytest.param("market", Observation(30, 0.9), calm(0.0), "spike", 18.0, "critical",
                     id="market at its minimum count"),
        pytest.param("topic", Observation(9, 0.9), calm(0.0), "below_minimum", 18.0, "critical",
                     id="topic under its minimum count of 10"),
        pytest.param("ticker", Observation(10, 0.35), calm(0.0), "quiet", 7.0, "warning",
                     id="high z but negative share under 0.4"),
        pytest.param("ticker", Observation(10, 0.9),
                     [*calm(0.0, 19, count=0), *calm(0.0, 5)], "warming_up", math.nan, None,
                     id="five non-empty baseline windows: warming up"),
        pytest.param("ticker", Observation(10, 0.9),
                     [*calm(0.0, 18, count=0), *calm(0.5, 6)], "spike", 8.0, "critical",
                     id="empty windows are skipped, six non-empty are enough"),
    ],
)
def test_mad_rule(
    kind: str, current: Observation, baseline: list[Observation], status: str, z: float,
    severity: str | None,
) -> None:
    verdict = evaluate(rule(detector="mad"), kind, current, baseline)
    assert verdict.status == status
    assert verdict.severity == severity
    if math.isnan(z):
        assert math.isnan(verdict.z)
    else:
        assert verdict.z == pytest.approx(z)
    assert verdict.condition is (status == "spike")


@pytest.mark.parametrize(
    ("values", "median", "scale"),
    [
        pytest.param([0.0] * 6, 0.0, 0.05, id="no spread: the floor"),
        pytest.param([0.1, 0.2, 0.3, 0.4, 0.5], 0.3, 1.4826 * 0.1, id="MAD 0.1 scaled"),
        pytest.param([0.1, 0.1, 0.1, 0.9], 0.1, 0.05, id="outlier: MAD stays 0"),
    ],
)
def test_robust_z_center_and_scale(values: list[float], median: float, scale: float) -> None:
    center, spread, z = robust_z(0.6, values, 0.05)
    assert center == pytest.approx(median)
    assert spread == pytest.approx(scale)
    assert z == pytest.approx((0.6 - median) / scale)


def test_ewma_follows_recent_windows_more_than_old_ones() -> None:
    rising = [0.1] * 12 + [0.3] * 12
    mean, scale, z = ewma_z(0.3, rising, alpha=0.3, sigma_min=0.05)
    assert mean == pytest.approx(0.3, abs=0.01)
    assert scale == pytest.approx(0.05)
    assert z == pytest.approx(0.0, abs=0.2)
    _, _, robust = robust_z(0.3, rising, 0.05)
    assert robust > z, "the median of the whole span lags behind the EWMA"


def test_ewma_detector_fires_on_a_spike() -> None:
    verdict = evaluate(rule(detector="ewma"), "ticker", Observation(10, 0.7), calm(0.1))
    assert verdict.status == "spike"
    assert verdict.median == pytest.approx(0.1)
    assert verdict.z == pytest.approx(12.0)


def test_rule_thresholds_are_honoured() -> None:
    strict = rule(detector="mad", z_threshold=4.0, critical_z=9.0, min_count={"ticker": 12})
    assert evaluate(strict, "ticker", Observation(12, 0.19), calm(0.0)).status == "quiet"
    assert evaluate(strict, "ticker", Observation(11, 0.9), calm(0.0)).status == "below_minimum"
    fired = evaluate(strict, "ticker", Observation(12, 0.42), calm(0.0))
    assert fired.status == "spike"
    assert fired.severity == "warning", "z 8.4 is under this rule's critical_z"


def sparse(counts: tuple[int, ...], windows: int = 24) -> list[Observation]:
    """A quiet scope: a few non-negative items now and then, empty windows otherwise."""
    filled = [Observation(c, 0.0) for c in counts]
    return [*[Observation(0, 0.0)] * (windows - len(filled)), *filled]


MARKET = calm(0.15, count=40)


@pytest.mark.parametrize(
    ("current", "baseline", "prior", "status", "severity"),
    [
        pytest.param(Observation(5, 0.4), sparse((1, 2, 3, 1, 2, 3)), (), "quiet", None,
                     id="sparse scope: 2 negative of 5 is not evidence"),
        pytest.param(Observation(5, 0.4), sparse((1, 2, 3, 1, 2, 3)), MARKET, "quiet", None,
                     id="sparse scope against the market's share: still quiet"),
        pytest.param(Observation(5, 1.0), sparse((1, 2, 3, 1, 2, 3)), MARKET, "spike", "warning",
                     id="sparse scope: 5 of 5 negative is"),
        pytest.param(Observation(40, 25 / 40), calm(0.1, count=10), MARKET, "spike", "critical",
                     id="real surge: many items, high share against a calm baseline"),
        pytest.param(Observation(10, 0.6), calm(0.1, count=10), MARKET, "quiet", None,
                     id="high share at the usual volume: no abnormal attention"),
        pytest.param(Observation(40, 0.3), calm(0.25, count=10), MARKET, "quiet", None,
                     id="volume surge at the scope's usual share"),
        pytest.param(Observation(40, 25 / 40), [Observation(10, s) for s in (0.0, 0.6) * 12],
                     MARKET, "quiet", None, id="a baseline that swings widely: overdispersion"),
        pytest.param(Observation(4, 1.0), sparse((1, 1, 1, 1, 1, 1)), MARKET, "below_minimum",
                     "warning", id="under the ticker minimum of 5"),
        pytest.param(Observation(9, 1.0), sparse((1, 1, 1, 1, 1)), MARKET, "warming_up", None,
                     id="five non-empty baseline windows: warming up"),
    ],
)
def test_count_rule(current: Observation, baseline: list[Observation],
                    prior: list[Observation], status: str, severity: str | None) -> None:
    verdict = evaluate(rule(), "ticker", current, baseline, prior)
    assert (verdict.status, verdict.severity) == (status, severity), verdict


def test_count_rule_explains_its_evidence() -> None:
    verdict = evaluate(rule(), "ticker", Observation(40, 25 / 40), calm(0.1, count=10), MARKET)
    assert verdict.evidence["negative"] == 25
    assert verdict.evidence["expected_negative"] == pytest.approx(40 * verdict.median)
    assert verdict.median == pytest.approx((24 + 20 * 0.15) / (240 + 20)), "shrunk to the market"
    assert verdict.z >= 5
    assert verdict.evidence["attention_z"] >= 5


@pytest.mark.parametrize(
    ("k", "n", "p", "tail"),
    [
        pytest.param(0, 5, 0.2, 1.0, id="at least none"),
        pytest.param(6, 5, 0.2, 0.0, id="more than all"),
        pytest.param(2, 5, 0.125, 1 - 0.875**5 - 5 * 0.125 * 0.875**4, id="two of five"),
        pytest.param(5, 5, 0.5, 0.5**5, id="all of five"),
    ],
)
def test_binomial_upper_tail(k: int, n: int, p: float, tail: float) -> None:
    assert binomial_upper_tail(k, n, p) == pytest.approx(tail)


@pytest.mark.parametrize(
    ("n", "mean", "tail"),
    [
        pytest.param(0, 3.0, 1.0, id="at least none"),
        pytest.param(1, 2.0, 1 - math.exp(-2.0), id="at least one"),
        pytest.param(3, 1.0, 1 - math.exp(-1.0) * 2.5, id="at least three"),
    ],
)
def test_poisson_upper_tail(n: int, mean: float, tail: float) -> None:
    assert poisson_upper_tail(n, mean) == pytest.approx(tail)


@pytest.mark.parametrize(
    ("negative_test", "status"),
    [
        pytest.param("share", "quiet", id="share test: 20 % negative is near the usual share"),
        pytest.param("volume", "spike", id="volume test: 12 negatives where 1 is usual"),
    ],
)
def test_negative_test_against_share_or_volume(negative_test: str, status: str) -> None:
    chosen = rule(negative_test=negative_test, min_negative_share=0.15)
    verdict = evaluate(chosen, "ticker", Observation(60, 0.2), calm(0.1, count=10), MARKET)
    assert verdict.status == status, verdict
