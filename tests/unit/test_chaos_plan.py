"""The chaos plan gives every spike a baseline: calm items are dated at arrival like the
bursts, so the windows just before each burst hold them, however long the run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.reliability import PLANS
from tests.chaos import events
from tests.chaos.harness import BURST, ChaosRun
from tests.chaos.plan import ChaosPlan
from tests.servers import Servers

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=60)  # the chaos run's TRENDS__WINDOW_S
BASELINE_WINDOWS, MIN_BASELINE, MIN_SHARE = 4, 2, 0.4  # its ALERTS__* settings


def event_times(plan: ChaosPlan) -> list[tuple[events.Outbound, datetime]]:
    """Each record and its event time: published_at clamped to arrival (skew 0)."""
    run = ChaosRun(plan, Servers("127.0.0.1:1", "postgresql://unused"), Path("."), Path("."))
    tickers = [f"SPK{n}" for n in range(plan.spikes)]
    outbound = [*events.history(tickers, NOW), *run._stream(NOW, tickers)]
    timed = []
    for position, record in enumerate(outbound):
        arrival = NOW + timedelta(seconds=position / plan.rate)
        if record.value is None or not record.good:
            continue
        published = datetime.fromisoformat(json.loads(record.value)["published_at"])
        timed.append((record, min(published, arrival)))
    return timed


@pytest.mark.parametrize("size", [pytest.param(name, id=f"{name} plan") for name in PLANS])
def test_every_burst_has_a_baseline_and_stands_out(size: str) -> None:
    timed = event_times(PLANS[size])
    bursts = {
        ident.rsplit("-", 1)[0]: at
        for ident, at in ((record.item_id or "", at) for record, at in timed)
        if ident.startswith("spike-")
    }
    assert len(bursts) == PLANS[size].spikes
    for name, at in bursts.items():
        ticker = name.split("-")[1]
        calm = [t for r, t in timed if (r.item_id or "").startswith(f"calm-{ticker}-")]
        current = sum(at - WINDOW < t <= at for t in calm)
        baseline = [
            sum(at - WINDOW * (j + 1) < t <= at - WINDOW * j for t in calm)
            for j in range(1, BASELINE_WINDOWS + 1)
        ]
        assert sum(n > 0 for n in baseline) >= MIN_BASELINE, (name, baseline)
        assert BURST / (BURST + current) >= MIN_SHARE, (name, current)
