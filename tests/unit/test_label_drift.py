"""Sentiment shares over the last hour against the training prior."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.model.label_drift import LabelDrift

T0 = datetime(2026, 3, 9, 12, tzinfo=UTC)
PRIOR = {"negative": 0.15, "neutral": 0.65, "positive": 0.20}


@pytest.mark.parametrize(
    ("batches", "shares"),
    [
        pytest.param([(0, ["negative", "neutral"])], (0.5, 0.5, 0.0), id="one batch"),
        pytest.param(
            [(0, ["negative"] * 3), (30, ["positive"])], (0.75, 0.0, 0.25), id="two batches"
        ),
        pytest.param(
            [(0, ["negative"] * 3), (61, ["positive"])], (0.0, 0.0, 1.0), id="older than an hour"
        ),
        pytest.param([(0, [])], (0.0, 0.0, 0.0), id="nothing seen"),
    ],
)
def test_shares_cover_the_last_hour(
    batches: list[tuple[int, list[str]]], shares: tuple[float, float, float]
) -> None:
    drift = LabelDrift(PRIOR)
    seen: dict[str, float] = {}
    for minute, labels in batches:
        seen = drift.observe(T0 + timedelta(minutes=minute), labels)
    assert tuple(seen[s] for s in ("negative", "neutral", "positive")) == pytest.approx(shares)


def test_memory_does_not_grow_with_the_rate() -> None:
    """600,000 labels in ten minutes take what 600 do: counted per minute, not kept per item
    (kept per item they took tens of MB)."""
    drift = LabelDrift(PRIOR)
    labels = ["negative", "neutral", "positive", "neutral"] * 250
    tracemalloc.start()
    try:
        for second in range(600):
            drift.observe(T0 + timedelta(seconds=second), labels)
        grown, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert grown < 200_000
    shares = drift.observe(T0 + timedelta(seconds=600), [])
    assert shares == pytest.approx({"negative": 0.25, "neutral": 0.5, "positive": 0.25})


def test_a_clock_that_steps_back_counts_in_the_newest_minute() -> None:
    drift = LabelDrift(PRIOR)
    drift.observe(T0 + timedelta(minutes=5), ["negative"])
    shares = drift.observe(T0 + timedelta(minutes=4), ["positive"])
    assert shares["negative"] == pytest.approx(0.5)
    assert shares["positive"] == pytest.approx(0.5)


def test_drift_is_share_minus_the_training_prior() -> None:
    drift = LabelDrift(PRIOR)
    shares = drift.observe(T0, ["negative"] * 3 + ["neutral"])
    assert drift.drift(shares) == pytest.approx(
        {"negative": 0.60, "neutral": -0.40, "positive": -0.20}
    )


@pytest.mark.parametrize(
    ("manifest", "prior"),
    [
        pytest.param({"metrics": {"label_prior": {"sentiment": PRIOR}}}, PRIOR, id="packed"),
        pytest.param({"metrics": {}}, {}, id="no prior recorded"),
    ],
)
def test_prior_comes_from_the_manifest(
    manifest: dict[str, object], prior: dict[str, float]
) -> None:
    drift = LabelDrift.from_manifest(manifest)
    assert drift.prior == prior
    assert set(drift.drift(drift.observe(T0, ["neutral"]))) == set(prior)
