"""Acceptance: `finsent model switch` keeps alerting alive across a model change (issue 12).

A calm day and then a negative surge about ACME are scored by model A (rows written directly),
and the scheduler has computed its baseline windows on A. Switching to model B (the tiny test
bundle, which reads "plunges" as negative and "schedules" as neutral) rescores the span the
spike rule reads, so the scheduler's next steps on B fire on the surge. The control: making B
current with only the new items scored by it (what setting the version alone amounts to) leaves
B's baseline empty, and nothing fires.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from pipeline.alerting.model_switch import CoverageGuard
from pipeline.alerting.rules import load_rules
from pipeline.alerting.scheduling import run_step
from pipeline.alerting.trends import baseline_ends
from pipeline.clock import SimulatedClock
from pipeline.model.bundle import ModelBundle
from pipeline.settings import Settings, load_settings
from pipeline.storage.alert_tables import AlertRow
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import upgrade
from pipeline.storage.model_version import current_model_version
from pipeline.storage.tables import ClassificationRow
from pipeline.storage.trend_tables import TrendWindow
from tests.hostile import Hostile, Outcome, run_finsent
from tests.integration.alert_fixtures import VERSION, Stream, hour_floor

STEP = timedelta(minutes=5)
NEUTRAL = ("schedules", "announces", "reports", "files", "updates")
NEGATIVE = ("plunges", "slumps", "crashes", "warns", "cuts outlook")
PHRASES = ("quarterly earnings and revenue", "the ceo appointment", "crude oil output")
SURGE = 20
# Calm items after the start of the oldest baseline window (T - 25 h): 6 an hour for 25 h.
CALM_IN_SPAN = 150


def headline(verbs: tuple[str, ...], n: int) -> str:
    return f"Acme Corp {verbs[n % len(verbs)]} after {PHRASES[n % len(PHRASES)]}"


@dataclass(frozen=True)
class Scenario:
    url: str
    engine: Engine
    settings: Settings
    start: datetime  # the step the scheduler computed on model A
    surge_from: datetime


def settings_for(url: str, **model: str) -> Settings:
    return load_settings(
        database={"url": url},
        trends={"window_s": 3600, "step_s": 300},
        alerts={"inhibit_tickers_by_market": False, "min_count_unlisted": 0},  # ACME: any volume
        model=model,
    )


@pytest.fixture
def scenario(pg_url: str) -> Iterator[Scenario]:
    upgrade(pg_url)
    settings = settings_for(pg_url)
    engine = make_engine(settings.database)
    start = hour_floor(datetime.now(UTC)) - timedelta(hours=4)
    stream = Stream(engine)
    stream.register_model(start - timedelta(days=2))
    for n in range(26 * 6):  # 26 h of calm: six neutral ACME items an hour, off the hour
        when = start - timedelta(hours=26, minutes=-5) + n * timedelta(minutes=10)
        stream.add(when, "ACME", "neutral", headline=headline(NEUTRAL, n))
    stream.flush()
    on_a = run_step(engine, settings, SimulatedClock(start))
    assert on_a.statuses["ticker:ACME"] == "quiet", "model A's baseline windows are stored"
    surge_from = start + timedelta(seconds=5)
    for n in range(SURGE):
        stream.add(surge_from + n * timedelta(seconds=10), "ACME", "negative",
                   headline=headline(NEGATIVE, n))
    stream.flush()
    yield Scenario(pg_url, engine, settings, start, surge_from)
    engine.dispose()


def finsent(scenario: Scenario, cwd: Path, *args: str, **env: str) -> Outcome:
    """The real CLI against the scenario's database, with the scenario's trend settings."""
    base = {"FINSENT_DATABASE__URL": scenario.url, "FINSENT_TRENDS__STEP_S": "300"}
    return run_finsent(Hostile(args, base | env), cwd, timeout_s=120)


def steps_on(scenario: Scenario, settings: Settings) -> list[str]:
    """ACME's verdict at the two steps after the one computed on model A."""
    clock = SimulatedClock(scenario.start + STEP)
    verdicts = []
    for _ in range(2):
        verdicts.append(run_step(scenario.engine, settings, clock).statuses["ticker:ACME"])
        clock.advance(STEP)
    return verdicts


def sentiments(engine: Engine, version: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(ClassificationRow.sentiment, func.count())
            .where(ClassificationRow.model_version == version)
            .group_by(ClassificationRow.sentiment)
        ).all()
    return {sentiment: n for sentiment, n in rows}


def baseline_versions(scenario: Scenario) -> set[str]:
    """The model versions of ACME's stored baseline windows for the last step."""
    ends = baseline_ends(scenario.start + 2 * STEP, 3600, 24)
    with scenario.engine.connect() as conn:
        found = conn.execute(
            select(TrendWindow.model_version).where(
                TrendWindow.scope == "ticker:ACME", TrendWindow.window_end.in_(ends)
            )
        ).scalars()
        return set(found)


def alerts(engine: Engine) -> dict[str, str]:
    with Session(engine) as session:
        return {a.scope: a.state for a in session.scalars(select(AlertRow))}


def test_switch_rescores_the_baseline_first_so_the_next_steps_fire(
    scenario: Scenario, test_bundle: ModelBundle, tmp_path: Path
) -> None:
    model_b = test_bundle.version
    outcome = finsent(scenario, tmp_path, "model", "switch", str(test_bundle.path))

    assert outcome.exit_code == 0, outcome.text
    rescored = CALM_IN_SPAN + SURGE
    span_start = scenario.start - timedelta(hours=25)
    assert f"rescored {rescored} items with model {model_b}" in outcome.stdout, outcome.text
    assert f"span: events from {span_start.isoformat()} to the newest" in outcome.stdout
    assert f"current model version: {VERSION} -> {model_b}" in outcome.stdout
    with scenario.engine.connect() as conn:
        assert current_model_version(conn) == model_b, "recorded in settings_kv"
    assert sentiments(scenario.engine, model_b) == {"neutral": CALM_IN_SPAN, "negative": SURGE}

    assert steps_on(scenario, scenario.settings) == ["spike", "spike"], "no warm-up"
    assert alerts(scenario.engine) == {"ticker:ACME": "firing"}
    assert baseline_versions(scenario) == {model_b}, "A's baseline windows computed again on B"
    guard = CoverageGuard().check(
        scenario.engine, scenario.settings, load_rules(scenario.settings.alerts),
        scenario.start + 3 * STEP,
    )
    assert guard is not None
    assert (guard.version, guard.gap) == (model_b, 0), "the span the rule reads is covered"


def test_setting_the_version_alone_leaves_the_baseline_empty_and_nothing_fires(
    scenario: Scenario, test_bundle: ModelBundle, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    model_b = test_bundle.version
    surge_only = ("reclassify", "--model", str(test_bundle.path),
                  "--from", scenario.surge_from.isoformat())
    outcome = finsent(scenario, tmp_path, *surge_only)
    assert outcome.exit_code == 0, outcome.text
    assert sentiments(scenario.engine, model_b) == {"negative": SURGE}
    pinned = settings_for(scenario.url, current_version=model_b)

    assert steps_on(scenario, pinned) == ["warming_up", "warming_up"]
    assert alerts(scenario.engine) == {}
    with caplog.at_level(logging.WARNING, logger="pipeline.alerting.model_switch"):
        guard = CoverageGuard().check(
            scenario.engine, pinned, load_rules(pinned.alerts), scenario.start + 3 * STEP
        )
    assert guard is not None
    assert guard.gap == CALM_IN_SPAN
    [warning] = [r.getMessage() for r in caplog.records if r.name == "pipeline.alerting.model_switch"]
    assert f"model version {model_b} lacks rows for {CALM_IN_SPAN} of the" in warning


def test_a_pinned_other_version_refuses_the_switch_in_one_line(
    scenario: Scenario, test_bundle: ModelBundle, tmp_path: Path
) -> None:
    outcome = finsent(scenario, tmp_path, "model", "switch", str(test_bundle.path),
                      FINSENT_MODEL__CURRENT_VERSION=VERSION)

    assert outcome.exit_code == 2, outcome.text
    assert outcome.lines == [
        f"error: FINSENT_MODEL__CURRENT_VERSION pins model {VERSION}: unset it to switch to"
        f" {test_bundle.version} (the scheduler re-records the pinned version every step)"
    ]
    assert sentiments(scenario.engine, test_bundle.version) == {}, "nothing rescored"
    with scenario.engine.connect() as conn:
        assert current_model_version(conn) == VERSION
