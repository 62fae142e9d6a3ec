"""The scheduler step (DESIGN §5), in one transaction, as named stages: the windows
(`trends`) → the verdicts (`verdicts`) → the lifecycle's changes (`lifecycle`) → the evidence
of those that notify (`explanations`) → the alert rows and their outbox events (`alert_rows`,
`outbox`).

An `AlertScheduler` computes every due step up to clock.now(), each in its own transaction.
The `trend_steps` primary key makes a step impossible to compute twice, whoever runs it; the
leader lock (`leader.py`) keeps a single process doing the work on Postgres.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from pipeline import alert_metrics
from pipeline.alerting.alert_rows import write_changes
from pipeline.alerting.explanations import explain
from pipeline.alerting.leader import worker_name
from pipeline.alerting.lifecycle import Planned, plan
from pipeline.alerting.rules import Rule, deepest_baseline, load_rules
from pipeline.alerting.trends import (
    BaselineCache,
    StepWindows,
    WindowSpec,
    baseline_ends,
    floor_to,
    step_windows,
)
from pipeline.alerting.verdicts import Judged, judge, muted_kinds
from pipeline.clock import Clock
from pipeline.items.companies import issuer_symbols
from pipeline.settings import AlertSettings, Settings
from pipeline.storage.model_version import current_model_version, publish_pinned_model
from pipeline.storage.partitions import ensure_partitions
from pipeline.storage.trend_tables import TrendStep
from schemas.alerts import Explanation


@dataclass(frozen=True)
class StepReport:
    """What one `run` did; `statuses` holds the first rule's verdict per scope."""

    steps: tuple[datetime, ...] = ()
    windows: int = 0
    changes: int = 0
    duration_s: float = 0.0
    remaining: int = 0
    statuses: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutcome:
    windows: int
    changes: int
    statuses: Mapping[str, str]


class AlertScheduler:
    """The steps of one scheduler process: its rules, the settings sections a step reads, and
    the baseline windows it has already read (kept for the life of the process)."""

    def __init__(self, settings: Settings, rules: Sequence[Rule] | None = None) -> None:
        self.rules = tuple(rules) if rules is not None else load_rules(settings.alerts)
        self.windows = WindowSpec.of(settings.trends, settings.events)
        self.alerts: AlertSettings = settings.alerts
        self.pinned_version = settings.model.current_version
        self._baselines = BaselineCache()
        self._worker = worker_name()

    def run(self, engine: Engine, clock: Clock, *, max_steps: int | None = None) -> StepReport:
        """Compute every due step up to clock.now(); idempotent, one transaction per step."""
        started = time.perf_counter()
        publish_pinned_model(engine, self.pinned_version, clock)
        with engine.connect() as conn:
            due = due_steps(conn, self.windows.step_s, clock.now())
        todo = due if max_steps is None else due[:max_steps]
        done: list[datetime] = []
        windows = changes = 0
        statuses: Mapping[str, str] = {}
        for step_at in todo:
            outcome = self.compute_step(engine, step_at, clock)
            if outcome is not None:
                done.append(step_at)
                windows, changes = windows + outcome.windows, changes + outcome.changes
                statuses = outcome.statuses
        elapsed = time.perf_counter() - started
        return StepReport(tuple(done), windows, changes, elapsed, len(due) - len(todo), statuses)

    def compute_step(self, engine: Engine, step_at: datetime, clock: Clock) -> StepOutcome | None:
        """One step in one transaction; None when another process already computed it."""
        started = time.perf_counter()
        ensure_partitions(engine, *self.written_span(step_at))
        with engine.begin() as conn:
            if not _claim(conn, step_at, "step", clock.now(), self._worker):
                return None
            version = current_model_version(conn, self.pinned_version)
            outcome = (
                StepOutcome(0, 0, {})
                if version is None
                else self._step(conn, version, step_at, clock.now())
            )
            elapsed = time.perf_counter() - started
            conn.execute(
                update(TrendStep)
                .where(TrendStep.step_at == step_at)
                .values(duration_ms=elapsed * 1000, windows=outcome.windows)
            )
        alert_metrics.STEP_SECONDS.observe(elapsed)
        alert_metrics.STEPS.inc()
        return outcome

    def _step(
        self, conn: Connection, version: str, step_at: datetime, now: datetime
    ) -> StepOutcome:
        """The stages of one step, in the caller's transaction."""
        windows = self._windows(conn, version, step_at, now)
        changes = 0
        statuses: dict[str, str] = {}
        for index, rule in enumerate(self.rules):
            judged = self._verdicts(rule, windows)
            planned = plan(conn, rule, judged, now, self._muted(judged))
            explanations = self._explanations(conn, version, rule, planned)
            changes += write_changes(conn, rule, planned, explanations, now)
            if index == 0:
                statuses = {scope: item.verdict.status for scope, item in judged.items()}
        return StepOutcome(windows.written, changes, statuses)

    def _windows(
        self, conn: Connection, version: str, step_at: datetime, now: datetime
    ) -> StepWindows:
        """Stage 1: the windows the step owes, written; its current and baseline windows, read."""
        ends = self.baseline_ends(step_at)
        return step_windows(
            conn,
            self.windows,
            version,
            step_at,
            now,
            ends=ends,
            backfill=_missing(conn, ends, now, self._worker),
            cache=self._baselines,
        )

    def _verdicts(self, rule: Rule, windows: StepWindows) -> dict[str, Judged]:
        """Stage 2: the rule's verdict for every scope it judges."""
        return judge(
            rule,
            windows,
            self.windows.window_s,
            self.windows.scopes,
            self.alerts.min_count_unlisted,
            issuer_symbols(),
        )

    def _muted(self, judged: Mapping[str, Judged]) -> frozenset[str]:
        return muted_kinds(self.alerts.inhibit_tickers_by_market, judged)

    def _explanations(
        self, conn: Connection, version: str, rule: Rule, planned: Sequence[Planned]
    ) -> dict[str, Explanation]:
        """Stage 3: the evidence of every change that opens an alert or notifies."""
        return {
            item.spike.scope: explain(
                conn, rule, item.spike, version, self.windows.english_only, self.alerts.top_items
            )
            for item in planned
            if item.needs_explanation and item.spike is not None
        }

    def baseline_ends(self, step_at: datetime) -> list[datetime]:
        return baseline_ends(step_at, self.windows.window_s, deepest_baseline(self.rules))

    def written_span(self, step_at: datetime) -> tuple[datetime, datetime]:
        """The oldest and newest window end a step may write: its baseline windows (filled in
        when missing) and the windows late items still reach within the lateness horizon."""
        oldest_baseline = self.baseline_ends(step_at)[-1]
        oldest_late = step_at - timedelta(seconds=self.windows.lateness_horizon_s)
        return min(oldest_baseline, oldest_late), step_at


def run_step(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    *,
    rules: Sequence[Rule] | None = None,
    max_steps: int | None = None,
) -> StepReport:
    """Every due step, by a scheduler made for this call (a long-running process keeps one
    `AlertScheduler`, and with it the baseline windows it has read)."""
    return AlertScheduler(settings, rules).run(engine, clock, max_steps=max_steps)


def due_steps(conn: Connection, step_s: int, now: datetime) -> list[datetime]:
    """Grid points after the last computed step, up to now; just now's on a fresh database."""
    last = conn.execute(
        select(func.max(TrendStep.step_at)).where(TrendStep.kind == "step")
    ).scalar_one_or_none()
    head = floor_to(now, step_s)
    if last is None:
        return [head]
    count = int((head - floor_to(last, step_s)).total_seconds() // step_s)
    return [head - timedelta(seconds=step_s * i) for i in range(count - 1, -1, -1)]


def _missing(
    conn: Connection, ends: Sequence[datetime], now: datetime, worker: str
) -> list[datetime]:
    """Baseline window ends never computed (before this scheduler ran); claimed as backfill."""
    query = select(TrendStep.step_at).where(TrendStep.step_at.in_(ends))
    known = set(conn.execute(query).scalars())
    return [
        end for end in ends if end not in known and _claim(conn, end, "backfill", now, worker)
    ]


def _claim(conn: Connection, step_at: datetime, kind: str, now: datetime, worker: str) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(TrendStep)
        .values(
            step_at=step_at,
            kind=kind,
            computed_at=now,
            duration_ms=0.0,
            windows=0,
            worker=worker,
        )
        .on_conflict_do_nothing(index_elements=["step_at"])
    )
    return bool(conn.execute(statement).rowcount)
