"""Predicted sentiment shares over the last hour, against the shares the model trained on.

A shift in the mix (a flood of negative items, or a model that reads a new kind of text as
neutral) shows as drift before it shows in alerts.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pipeline.model.labels import SENTIMENTS

WINDOW = timedelta(hours=1)
BUCKET = timedelta(minutes=1)


class LabelDrift:
    """Shares of the last hour, counted per minute: memory stays 60 counters at any rate.

    (Kept per item, an hour at 135 items/s was half a million entries, and the classifier's
    memory grew for the whole first hour of a soak.) A minute leaves the window once all of
    it is older than the window, so the shares cover 60 to 61 minutes.
    """

    def __init__(
        self,
        prior: Mapping[str, float] | None,
        window: timedelta = WINDOW,
        bucket: timedelta = BUCKET,
    ) -> None:
        self.prior = dict(prior or {})
        self._window, self._bucket = window, bucket
        self._minutes: deque[tuple[datetime, Counter[str]]] = deque()
        self._counts: Counter[str] = Counter()

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any]) -> LabelDrift:
        """The prior recorded at packing (`metrics.label_prior.sentiment`), if any."""
        prior = manifest.get("metrics", {}).get("label_prior", {}).get("sentiment")
        return cls(prior)

    def observe(self, now: datetime, labels: Iterable[str]) -> dict[str, float]:
        """Adds labels seen at `now`; the shares of the last window, per sentiment."""
        seen = Counter(labels)
        self._bucket_at(now).update(seen)
        self._counts.update(seen)
        while self._minutes and self._minutes[0][0] + self._bucket <= now - self._window:
            _, old = self._minutes.popleft()
            self._counts.subtract(old)
        total = sum(self._counts.values())
        return {s: (self._counts[s] / total if total else 0.0) for s in SENTIMENTS}

    def _bucket_at(self, now: datetime) -> Counter[str]:
        """The counter of `now`'s minute; a clock that stepped back counts in the newest."""
        start = now - timedelta(seconds=now.timestamp() % self._bucket.total_seconds())
        if not self._minutes or start > self._minutes[-1][0]:
            self._minutes.append((start, Counter()))
        return self._minutes[-1][1]

    def drift(self, shares: Mapping[str, float]) -> dict[str, float]:
        """Share minus prior, per sentiment the prior knows."""
        return {s: shares[s] - p for s, p in self.prior.items() if s in shares}
