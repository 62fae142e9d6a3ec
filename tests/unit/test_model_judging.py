"""The rules for judging models: ECE, temperature scaling, the paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.model.judging import (
    expected_calibration_error,
    fit_temperature,
    paired_accuracy_loss,
    softmax,
)


@pytest.mark.parametrize(
    ("probabilities", "labels", "expected"),
    [
        pytest.param([[0.9, 0.1], [0.9, 0.1]], [0, 0], 0.1, id="underconfident by 0.1"),
        pytest.param([[0.9, 0.1], [0.9, 0.1]], [1, 1], 0.9, id="confidently wrong"),
        pytest.param(
            [[0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.6, 0.4]],
            [0, 0, 0, 1, 1],
            0.0,
            id="confidence equals accuracy",
        ),
    ],
)
def test_expected_calibration_error(
    probabilities: list[list[float]], labels: list[int], expected: float
) -> None:
    assert expected_calibration_error(probabilities, labels) == pytest.approx(expected)


def test_fitted_temperature_recovers_the_one_that_made_the_labels() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 4, size=(4000, 3))
    true_t = 2.5
    labels = [rng.choice(3, p=p) for p in softmax(logits, true_t)]
    fitted = fit_temperature(logits, labels)
    assert fitted == pytest.approx(true_t, rel=0.1)
    before = expected_calibration_error(softmax(logits), labels)
    after = expected_calibration_error(softmax(logits, fitted), labels)
    assert after < before / 2


def test_paired_bootstrap_interval_covers_a_real_loss_and_not_zero() -> None:
    rng = np.random.default_rng(5)
    first = rng.random(3000) < 0.90
    second = first & (rng.random(3000) > 0.05)  # the second model loses ~4.5 pt, row by row
    interval = paired_accuracy_loss(first, second)
    assert interval.low > 0.03
    assert interval.low < interval.mean < interval.high
    same = paired_accuracy_loss(first, first)
    assert (same.low, same.high) == (0.0, 0.0)


def test_paired_bootstrap_refuses_unpaired_rows() -> None:
    with pytest.raises(ValueError, match="equal"):
        paired_accuracy_loss([True, False], [True])
