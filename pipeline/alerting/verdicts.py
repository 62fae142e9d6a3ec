"""The verdicts of one step: each scope's window judged by one rule (pure)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipeline.alerting.detection import Observation, Verdict, evaluate, is_judged
from pipeline.alerting.rules import Rule
from pipeline.alerting.trends import StepWindows
from pipeline.scope import scope_kind

NO_WINDOW = Observation(0, 0.0)


@dataclass(frozen=True)
class Judged:
    """One scope's verdict at a step, with the window it judged."""

    scope: str
    kind: str
    verdict: Verdict
    window: tuple[datetime, datetime]


def judge(
    rule: Rule,
    windows: StepWindows,
    width_s: int,
    scope_kinds: Collection[str],
    unlisted_min_count: int,
    issuers: Collection[str],
) -> dict[str, Judged]:
    """The rule's verdict for every judged scope of an enabled kind with a current window."""
    kinds = set(rule.scope_kinds) & set(scope_kinds)
    ends = list(reversed(windows.ends[: rule.baseline_windows]))  # oldest first
    prior = _history(windows.baseline.get("market", {}), ends)
    window = (windows.step_at - timedelta(seconds=width_s), windows.step_at)
    judged: dict[str, Judged] = {}
    for scope, now in windows.current.items():
        kind = scope_kind(scope)
        if kind not in kinds or not is_judged(scope, now, unlisted_min_count, issuers):
            continue
        baseline = _history(windows.baseline.get(scope, {}), ends)
        judged[scope] = Judged(scope, kind, evaluate(rule, kind, now, baseline, prior), window)
    return judged


def _history(past: Mapping[datetime, Observation], ends: Sequence[datetime]) -> list[Observation]:
    """A scope's baseline windows at `ends`; one never written counts as an empty window."""
    return [past.get(end, NO_WINDOW) for end in ends]


def muted_kinds(inhibit_tickers_by_market: bool, judged: Mapping[str, Judged]) -> frozenset[str]:
    """Scope kinds left as they are this step: tickers while the market spikes, if inhibited."""
    market = judged.get("market")
    if inhibit_tickers_by_market and market is not None and market.verdict.condition:
        return frozenset({"ticker"})
    return frozenset()
