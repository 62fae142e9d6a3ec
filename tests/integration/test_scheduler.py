"""Acceptance: two scheduler processes on the wall clock compute every step exactly once."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.engine import make_url

from pipeline.alerting.leader import LeaderLock
from pipeline.settings import load_settings
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import upgrade
from pipeline.storage.trend_tables import TrendStep
from tests.integration.alert_fixtures import Stream

FINSENT = Path(sys.executable).parent / "finsent"
STEP_S = 1


@contextmanager
def scheduler_process(pg_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ, "FINSENT_DATABASE__URL": pg_url, "FINSENT_TRENDS__STEP_S": str(STEP_S),
        "FINSENT_TRENDS__WINDOW_S": "60", "FINSENT_METRICS_PORT": "0",
        "FINSENT_LOG_LEVEL": "INFO",
    }
    with log.open("wb") as out:
        process = subprocess.Popen([str(FINSENT), "worker", "schedule"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def steps(engine: Engine) -> list[TrendStep]:
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        return list(
            session.scalars(select(TrendStep).where(TrendStep.kind == "step")
                            .order_by(TrendStep.step_at))
        )


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_two_schedulers_one_leader_no_step_twice_or_skipped(pg_url: str, tmp_path: Path) -> None:
    upgrade(pg_url)
    engine = make_engine(load_settings(database={"url": pg_url}).database)
    stream = Stream(engine)
    now = datetime.now(UTC)
    stream.register_model(now - timedelta(days=1))
    for k in range(40):
        stream.add(now - timedelta(seconds=3 * k), "ACME", "neutral")
    stream.flush()

    with scheduler_process(pg_url, tmp_path / "a.log") as first:
        wait_for(lambda: len(steps(engine)) >= 3, 60, "the first scheduler's steps")
        with scheduler_process(pg_url, tmp_path / "b.log") as second:
            leader = f":{first.pid}"
            time.sleep(8)  # the second one is up and ticking as a follower by now
            assert all(s.worker.endswith(leader) for s in steps(engine)), "one leader only"
            first.send_signal(signal.SIGKILL)
            killed_at = datetime.now(UTC)
            follower = f":{second.pid}"
            wait_for(lambda: any(s.worker.endswith(follower) for s in steps(engine)), 10,
                     "the second scheduler to take over")
            time.sleep(3)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=15) == 0, (tmp_path / "b.log").read_text()

    done = steps(engine)
    span = int((done[-1].step_at - done[0].step_at).total_seconds()) // STEP_S + 1
    assert len(done) == span, "every step on the grid computed, none skipped"
    gaps = {(b.step_at - a.step_at).total_seconds() for a, b in pairwise(done)}
    assert gaps == {float(STEP_S)}
    owners = [s.worker.rsplit(":", 1)[1] for s in done]
    handover = owners.index(str(second.pid))
    assert set(owners[:handover]) == {str(first.pid)}
    assert set(owners[handover:]) == {str(second.pid)}, "the old leader never came back"
    took_over = done[handover].computed_at - killed_at
    assert took_over <= timedelta(seconds=2 * STEP_S), f"took over after {took_over}"


def test_leader_lock_says_why_it_cannot_lead_and_hides_the_password(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = make_url(pg_url).set(password="not-the-password-4711")
    engine = create_engine(wrong)
    lock = LeaderLock(engine)
    try:
        with caplog.at_level(logging.WARNING, logger="pipeline.alerting.leader"):
            assert lock.ensure() is False
            assert lock.ensure() is False
    finally:
        engine.dispose()
    warnings = [r.getMessage() for r in caplog.records if r.name == "pipeline.alerting.leader"]
    assert len(warnings) == 1, "one warning per cause, not one per step"
    assert "password authentication failed" in warnings[0]
    assert "not-the-password-4711" not in caplog.text
