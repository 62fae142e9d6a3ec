"""A window's evidence (docs/spike-rule.md): its items weighted by relevance, copies once.

Copies are the items of one source that share a copy fingerprint (pipeline.items.identity); an item
stored without one is its own copy. In one window of one scope a group of copies counts once,
with the largest relevance among them, negative in the proportion of its negative items.
Market and topic scopes weigh every item 1; ticker scopes by the mention's relevance.

The live windows compute this in SQL (pipeline.alerting.trends,
pipeline.alerting.trend_sql); the backtest calls `window_evidence`. Both hand the detector
`evidence_observation`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.alerting.detection import Observation

# Sums of relevances differ in their last bits between SQL and Python: round past that noise.
_ROUNDING_SLACK = 1e-9


@dataclass(frozen=True)
class Counted:
    """One item as a window of one scope counts it."""

    copy_key: str
    relevance: float
    negative: bool


def copy_key(source: str, fingerprint: str | None, item_id: str) -> str:
    """What makes items copies of one another: one source, one fingerprint (else the item)."""
    return f"{source}\x1f{fingerprint if fingerprint is not None else item_id}"


def window_evidence(items: Iterable[Counted]) -> tuple[float, float]:
    """(evidence, negative evidence) of the items in one window of one scope."""
    groups: dict[str, list[Counted]] = {}
    for item in items:
        groups.setdefault(item.copy_key, []).append(item)
    evidence = negative = 0.0
    for copies in groups.values():
        weight = max(c.relevance for c in copies)
        evidence += weight
        negative += weight * sum(c.negative for c in copies) / len(copies)
    return evidence, negative


def evidence_observation(evidence: float, negative_evidence: float) -> Observation:
    """What the detector reads: the evidence in whole items (rounded half up), and the share
    of it that is negative."""
    count = math.floor(evidence + 0.5 + _ROUNDING_SLACK)
    share = negative_evidence / evidence if evidence > 0 else 0.0
    return Observation(count, min(max(share, 0.0), 1.0))
