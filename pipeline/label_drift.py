"""Predicted sentiment shares over the last hour, against the shares the model trained on.

A shift in the mix (a flood of negative items, or a model that reads a new kind of text as
neutral) shows as drift before it shows in alerts.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pipeline.labels import SENTIMENTS

WINDOW = timedelta(hours=1)


class LabelDrift:
    def __init__(self, prior: Mapping[str, float] | None, window: timedelta = WINDOW) -> None:
        self.prior = dict(prior or {})
        self._window = window
        self._seen: deque[tuple[datetime, str]] = deque()
        self._counts: Counter[str] = Counter()

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> LabelDrift:
        """The prior recorded at packing (`metrics.label_prior.sentiment`), if any."""
        prior = manifest.get("metrics", {}).get("label_prior", {}).get("sentiment")
        return cls(prior)

    def observe(self, now: datetime, labels: Iterable[str]) -> dict[str, float]:
        """Adds labels seen at `now`; the shares of the last window, per sentiment."""
        for label in labels:
            self._seen.append((now, label))
            self._counts[label] += 1
        while self._seen and self._seen[0][0] <= now - self._window:
            _, label = self._seen.popleft()
            self._counts[label] -= 1
        total = len(self._seen)
        return {s: (self._counts[s] / total if total else 0.0) for s in SENTIMENTS}

    def drift(self, shares: Mapping[str, float]) -> dict[str, float]:
        """Share minus prior, per sentiment the prior knows."""
        return {s: shares[s] - p for s, p in self.prior.items() if s in shares}
