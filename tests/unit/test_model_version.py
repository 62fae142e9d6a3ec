"""One current-model-version rule for alerting, the views, the API and the report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from pipeline.alerting.scheduling import run_step
from pipeline.clock import SimulatedClock
from pipeline.reporting.views import current_model
from pipeline.settings import Settings
from pipeline.storage.model_version import current_model_version, publish_pinned_model
from pipeline.storage.trend_tables import TrendWindow
from tests.reporting_seed import DAY2, NEW, OLD, seeded_sqlite


@pytest.mark.parametrize(
    ("published", "pinned", "expected"),
    [
        pytest.param(None, None, NEW, id="nothing said: the newest registered"),
        pytest.param(OLD, None, OLD, id="published by a switch or the demo"),
        pytest.param(None, OLD, OLD, id="pinned: published for the views"),
        pytest.param(NEW, OLD, OLD, id="pinned over an older publication"),
    ],
)
def test_a_published_pin_is_what_pinned_and_unpinned_readers_read(
    tmp_path: Path, published: str | None, pinned: str | None, expected: str
) -> None:
    engine = seeded_sqlite(tmp_path, current=published)
    publish_pinned_model(engine, pinned, SimulatedClock(DAY2))
    with engine.connect() as conn:
        assert current_model_version(conn, pinned) == expected  # the alerting step
        assert current_model_version(conn) == expected  # the API and the report
        assert conn.execute(select(current_model.c.version)).scalar_one() == expected  # SQL
    engine.dispose()


def test_the_alerting_step_and_the_views_follow_the_pinned_version(tmp_path: Path) -> None:
    engine = seeded_sqlite(tmp_path, current=NEW)  # a switch to NEW, then OLD pinned
    pinned = Settings(model={"current_version": OLD})
    run_step(engine, pinned, SimulatedClock(DAY2 + timedelta(minutes=10)))
    with engine.connect() as conn:
        windows = set(conn.execute(select(TrendWindow.model_version).distinct()).scalars())
        viewed = conn.execute(select(current_model.c.version)).scalar_one()
        reported = current_model_version(conn)
    engine.dispose()
    assert windows == {OLD}
    assert (viewed, reported) == (OLD, OLD), "the views and the report read what alerts read"
