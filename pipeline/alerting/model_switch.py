"""Switching the model version alerting follows without emptying its baselines (DESIGN §5).

The current version is the first of: FINSENT_MODEL__CURRENT_VERSION (a pin, re-recorded by
every alerting step); the version `finsent model switch` recorded (settings_kv);
the newest registered model. A switch rescores the span the spike rule reads, counted back
from the newest stored event, before it records the new version.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, func, select

from pipeline import alert_metrics
from pipeline.alerting.rules import Rule, deepest_baseline
from pipeline.alerting.trends import baseline_ends
from pipeline.clock import as_utc
from pipeline.consumer.reclassify import TimeRange
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from pipeline.storage.model_version import current_model_version
from pipeline.storage.results import CLASSIFICATIONS, ITEMS

log = logging.getLogger(__name__)


class PinnedVersion(ConfigError):  # noqa: N818 - named for what the user must undo
    """FINSENT_MODEL__CURRENT_VERSION names another version: the scheduler would undo a switch."""


def read_span_start(step_at: datetime, window_s: int, windows: int) -> datetime:
    """Where the event times a step at `step_at` reads begin (exclusive): the start of its
    oldest baseline window; the other baseline windows and the current one lie after it."""
    oldest = baseline_ends(step_at, window_s, windows)[-1]
    return oldest - timedelta(seconds=window_s)


def refuse_pinned(settings: Settings, new: str) -> None:
    """A switch away from a pinned version would last until the scheduler's next step."""
    pinned = settings.model.current_version
    if pinned and pinned != new:
        raise PinnedVersion(
            f"FINSENT_MODEL__CURRENT_VERSION pins model {pinned}: unset it to switch to {new}"
            " (the scheduler re-records the pinned version every step)"
        )


@dataclass(frozen=True)
class SwitchPlan:
    """What a switch to `new` rescores: items from `span.start` on (open-ended, so items
    stored while it runs are included), counted back from the newest stored event."""

    old: str | None
    new: str
    newest_event: datetime | None
    baseline_windows: int
    span: TimeRange

    def summary(self, rescored: int) -> list[str]:
        """What the switch did, for the person who ran it."""
        span = "no stored items"
        if self.newest_event is not None and self.span.start is not None:
            span = (
                f"events from {self.span.start.isoformat()} to the newest,"
                f" {self.newest_event.isoformat()} (the {self.baseline_windows} baseline"
                " windows and the current window the spike rule reads)"
            )
        return [
            f"rescored {rescored} items with model {self.new}",
            f"span: {span}",
            f"current model version: {self.old or 'none'} -> {self.new}",
        ]


def plan_switch(
    conn: Connection, settings: Settings, rules: Sequence[Rule], new: str
) -> SwitchPlan:
    """The span to rescore before `new` becomes current, and the version it replaces."""
    windows = deepest_baseline(rules)
    newest = conn.execute(select(func.max(ITEMS.c.event_time))).scalar()
    if newest is None:
        span = TimeRange()
    else:
        newest = as_utc(newest)
        span = TimeRange(read_span_start(newest, settings.trends.window_s, windows))
    old = current_model_version(conn, settings.model.current_version)
    return SwitchPlan(old, new, newest, windows, span)


@dataclass(frozen=True)
class Coverage:
    """Items stored after `since` and the rows `version` holds for them."""

    version: str
    since: datetime
    items: int
    rows: int

    @property
    def gap(self) -> int:
        return self.items - self.rows


def coverage(conn: Connection, version: str, since: datetime) -> Coverage:
    """Two index range counts: cheap enough for the scheduler to ask every baseline hour."""
    items = select(func.count()).select_from(ITEMS).where(ITEMS.c.event_time > since)
    rows = (
        select(func.count())
        .select_from(CLASSIFICATIONS)
        .where(CLASSIFICATIONS.c.model_version == version, CLASSIFICATIONS.c.event_time > since)
    )
    found = conn.execute(items).scalar_one(), conn.execute(rows).scalar_one()
    return Coverage(version, since, *found)


class CoverageGuard:
    """Warns when the current version lacks rows for items the spike rule reads: a version
    made current without `finsent model switch`, or classifiers still on the old bundle.
    Asked once per version and baseline hour, so a lasting gap warns hourly, not every step."""

    def __init__(self) -> None:
        self._asked: tuple[str, datetime] | None = None

    def check(
        self, engine: Engine, settings: Settings, rules: Sequence[Rule], now: datetime
    ) -> Coverage | None:
        """The coverage when it was due to be asked (and the warning, if it has a gap)."""
        since = read_span_start(now, settings.trends.window_s, deepest_baseline(rules))
        with engine.connect() as conn:
            version = current_model_version(conn, settings.model.current_version)
            if version is None or self._asked == (version, since):
                return None
            found = coverage(conn, version, since)
        self._asked = (version, since)
        alert_metrics.UNSCORED_ITEMS.set(found.gap)
        if found.gap > 0:
            log.warning(
                "model version %s lacks rows for %d of the %d items since %s that the spike"
                " rule reads: its windows miss them (`finsent model switch` rescores them)",
                version,
                found.gap,
                found.items,
                since.isoformat(),
            )
        return found
