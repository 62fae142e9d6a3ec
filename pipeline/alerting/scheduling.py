"""One scheduler step: trend windows, detection, alert lifecycle, outbox (DESIGN §5).

`run_step` computes every due step up to clock.now(), each in its own transaction. The
`trend_steps` primary key makes a step impossible to compute twice, whoever runs it;
`LeaderLock` keeps a single process doing the work on Postgres.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError

from pipeline import alert_metrics
from pipeline.alerting.detection import Observation, evaluate, is_judged, verdict_figures
from pipeline.alerting.lifecycle import ExplainFn, Judged, apply_verdicts
from pipeline.alerting.rules import Rule, deepest_baseline, load_rules
from pipeline.alerting.trends import (
    baseline_ends,
    compute_windows,
    floor_to,
    load_observations,
    recompute_other_versions,
    top_negative_items,
    touched_ends,
)
from pipeline.clock import Clock
from pipeline.items.companies import issuer_symbols
from pipeline.scope import scope_kind
from pipeline.settings import Settings
from pipeline.storage.db import db_error_reason, is_postgres
from pipeline.storage.model_version import current_model_version, publish_pinned_model
from pipeline.storage.partitions import ensure_partitions, forget_partitions
from pipeline.storage.trend_tables import TrendStep
from schemas.alerts import Explanation

log = logging.getLogger(__name__)

LOCK_KEY = 0x66696E73  # "fins": the scheduler's advisory lock id
NO_WINDOW = Observation(0, 0.0)
# Items classified this long before the previous step may have committed after it ran.
COMMIT_SLACK = timedelta(seconds=10)


@dataclass(frozen=True)
class StepReport:
    """What one `run_step` call did; `statuses` holds the first rule's verdict per scope."""

    steps: tuple[datetime, ...] = ()
    windows: int = 0
    changes: int = 0
    duration_s: float = 0.0
    remaining: int = 0
    statuses: Mapping[str, str] = field(default_factory=dict)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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


def run_step(
    engine: Engine,
    settings: Settings,
    clock: Clock,
    *,
    rules: Sequence[Rule] | None = None,
    max_steps: int | None = None,
) -> StepReport:
    """Compute every due step up to clock.now(); idempotent, one transaction per step."""
    started = time.perf_counter()
    active = tuple(rules) if rules is not None else load_rules(settings.alerts)
    publish_pinned_model(engine, settings.model.current_version, clock)
    with engine.connect() as conn:
        due = due_steps(conn, settings.trends.step_s, clock.now())
    todo = due if max_steps is None else due[:max_steps]
    done: list[datetime] = []
    windows = changes = 0
    statuses: Mapping[str, str] = {}
    for step_at in todo:
        outcome = compute_step(engine, settings, active, step_at, clock)
        if outcome is not None:
            done.append(step_at)
            windows, changes = windows + outcome.windows, changes + outcome.changes
            statuses = outcome.statuses
    return StepReport(
        tuple(done), windows, changes, time.perf_counter() - started, len(due) - len(todo), statuses
    )


@dataclass(frozen=True)
class StepOutcome:
    windows: int
    changes: int
    statuses: Mapping[str, str]


def compute_step(
    engine: Engine, settings: Settings, rules: Sequence[Rule], step_at: datetime, clock: Clock
) -> StepOutcome | None:
    """One step in one transaction; None when another process already computed it."""
    started = time.perf_counter()
    ensure_partitions(engine, *written_span(settings, rules, step_at))
    with engine.begin() as conn:
        if not _claim(conn, step_at, "step", clock.now()):
            return None
        version = current_model_version(conn, settings.model.current_version)
        outcome = (
            StepOutcome(0, 0, {})
            if version is None
            else _step(conn, settings, rules, version, step_at, clock.now())
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
    conn: Connection,
    settings: Settings,
    rules: Sequence[Rule],
    version: str,
    step_at: datetime,
    now: datetime,
) -> StepOutcome:
    step = timedelta(seconds=settings.trends.step_s)
    base = _baseline(settings, rules, step_at)
    missing = _missing(conn, base, now)
    since = step_at - step - min(step, COMMIT_SLACK)
    touched = touched_ends(conn, settings, version, since, step_at)
    written = compute_windows(conn, settings, version, [*missing, *touched, step_at], now)
    current = {scope: w[step_at] for scope, w in load_observations(conn, [step_at]).items()}
    history = BASELINES.load(conn, settings, version, base, now)
    window = (step_at - timedelta(seconds=settings.trends.window_s), step_at)
    explain = make_explainer(settings, version)
    changes = 0
    statuses: dict[str, str] = {}
    for index, rule in enumerate(rules):
        judged = judge(rule, settings, current, history, base, window)
        changes += apply_verdicts(conn, rule, judged, now, explain, _muted(settings, judged))
        if index == 0:
            statuses = {scope: item.verdict.status for scope, item in judged.items()}
    return StepOutcome(written, changes, statuses)


def written_span(
    settings: Settings, rules: Sequence[Rule], step_at: datetime
) -> tuple[datetime, datetime]:
    """The oldest and newest window end a step may write: its baseline windows (filled in when
    missing) and the windows late items still reach within the lateness horizon."""
    oldest_baseline = _baseline(settings, rules, step_at)[-1]
    oldest_late = step_at - timedelta(seconds=settings.events.lateness_horizon_s)
    return min(oldest_baseline, oldest_late), step_at


def _baseline(settings: Settings, rules: Sequence[Rule], step_at: datetime) -> list[datetime]:
    return baseline_ends(step_at, settings.trends.window_s, deepest_baseline(rules))


def judge(
    rule: Rule,
    settings: Settings,
    current: Mapping[str, Observation],
    history: Mapping[str, Mapping[datetime, Observation]],
    base: Sequence[datetime],
    window: tuple[datetime, datetime],
) -> dict[str, Judged]:
    """The rule's verdict for every scope with a current window (baseline oldest first)."""
    ends = list(reversed(base[: rule.baseline_windows]))
    kinds = set(rule.scope_kinds) & set(settings.trends.scopes)
    market = history.get("market", {})
    prior = [market.get(end, NO_WINDOW) for end in ends]
    judged: dict[str, Judged] = {}
    unlisted, issuers = settings.alerts.min_count_unlisted, issuer_symbols()
    for scope, now in current.items():
        kind = scope_kind(scope)
        if kind not in kinds or not is_judged(scope, now, unlisted, issuers):
            continue
        past = history.get(scope, {})
        baseline = [past.get(end, NO_WINDOW) for end in ends]
        judged[scope] = Judged(scope, kind, evaluate(rule, kind, now, baseline, prior), window)
    return judged


class BaselineCache:
    """Baseline windows end W or more before the step, past the lateness horizon, so they
    no longer change: a long-running scheduler reads (and checks the version of) each hour's
    set once."""

    def __init__(self, keep: int = 2) -> None:
        self._keep = keep
        self._entries: dict[tuple[Engine, str, tuple[datetime, ...]], Baseline] = {}

    def load(
        self,
        conn: Connection,
        settings: Settings,
        version: str,
        ends: Sequence[datetime],
        now: datetime,
    ) -> Baseline:
        if settings.events.lateness_horizon_s >= settings.trends.window_s:
            return _baseline_of(conn, settings, version, ends, now)  # late items change them
        key = (conn.engine, version, tuple(ends))
        if key not in self._entries:
            while len(self._entries) >= self._keep:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = _baseline_of(conn, settings, version, ends, now)
        return self._entries[key]


def _baseline_of(
    conn: Connection, settings: Settings, version: str, ends: Sequence[datetime], now: datetime
) -> Baseline:
    """The stored baseline windows, as `version` sees them (after a model switch, the old
    model's windows are computed again first)."""
    redone = recompute_other_versions(conn, settings, version, ends, now)
    if redone:
        log.info("%d baseline windows recomputed for model version %s", len(redone), version)
    return load_observations(conn, ends)


Baseline = Mapping[str, Mapping[datetime, Observation]]
BASELINES = BaselineCache()


def _muted(settings: Settings, judged: Mapping[str, Judged]) -> frozenset[str]:
    """Scope kinds left as they are this step: tickers while the market spikes, if inhibited."""
    market = judged.get("market")
    if settings.alerts.inhibit_tickers_by_market and market and market.verdict.condition:
        return frozenset({"ticker"})
    return frozenset()


def make_explainer(settings: Settings, version: str) -> ExplainFn:
    def explain(conn: Connection, rule: Rule, item: Judged) -> dict[str, object]:
        verdict = item.verdict
        tops = top_negative_items(
            conn, settings, version, item.scope, item.window, settings.alerts.top_items
        )
        return Explanation.model_validate(
            {
                **verdict_figures(rule, item.kind, verdict),
                "window_start": item.window[0],
                "window_end": item.window[1],
                "top_items": tops,
            }
        ).model_dump(mode="json")

    return explain


def _missing(conn: Connection, ends: Sequence[datetime], now: datetime) -> list[datetime]:
    """Baseline window ends never computed (before this scheduler ran); claimed as backfill."""
    query = select(TrendStep.step_at).where(TrendStep.step_at.in_(ends))
    known = set(conn.execute(query).scalars())
    return [end for end in ends if end not in known and _claim(conn, end, "backfill", now)]


def _claim(conn: Connection, step_at: datetime, kind: str, now: datetime) -> bool:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(TrendStep)
        .values(
            step_at=step_at,
            kind=kind,
            computed_at=now,
            duration_ms=0.0,
            windows=0,
            worker=worker_name(),
        )
        .on_conflict_do_nothing(index_elements=["step_at"])
    )
    return bool(conn.execute(statement).rowcount)


class LeaderLock:
    """A session-level advisory lock on a dedicated connection, re-checked on every call.

    On SQLite (embedded mode, one process) every caller is the leader.
    """

    def __init__(self, engine: Engine, key: int = LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None
        self._held = False
        self._last_error: str | None = None

    def ensure(self) -> bool:
        """True when this process holds the lock now (acquiring it if it is free)."""
        if not is_postgres(self._engine):
            return True
        was_held = self._held
        try:
            self._held = self._still_held() if self._held else self._try()
            self._last_error = None
        except DBAPIError as e:
            self._drop()
            self._report(e)
        if self._held and not was_held:
            forget_partitions(self._engine)  # an earlier leader may have dropped some
        if self._held != was_held:
            log.info(
                "scheduler leadership %s by %s (advisory lock %d)",
                "acquired" if self._held else "lost",
                worker_name(),
                self._key,
            )
        alert_metrics.LEADER.set(1 if self._held else 0)
        return self._held

    def _report(self, error: DBAPIError) -> None:
        """Say why leadership failed (a wrong password, the server down) once per cause."""
        reason = db_error_reason(error)
        if reason != self._last_error:
            log.warning("leader lock unavailable, not leading: %s", reason)
            self._last_error = reason

    def release(self) -> None:
        if self._held:
            log.info("scheduler leadership released by %s", worker_name())
        if self._conn is not None and self._held:
            # a failure means the session is gone, and the lock with it
            with contextlib.suppress(DBAPIError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        self._drop()
        alert_metrics.LEADER.set(0)

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _try(self) -> bool:
        query = text("SELECT pg_try_advisory_lock(:k)")
        return bool(self._connection().execute(query, {"k": self._key}).scalar())

    def _still_held(self) -> bool:
        query = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid = pg_backend_pid() AND objid = :low"
        )
        low = self._key & 0xFFFFFFFF
        return bool(self._connection().execute(query, {"low": low}).scalar())

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):  # a broken connection is discarded anyway
                self._conn.close()
        self._conn = None
        self._held = False
