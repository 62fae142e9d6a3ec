from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from pipeline.consumer.reclassify import TimeRange, count_unscored, rescore_page
from pipeline.items.scored import ModelRecord, ScoredEvent, Scores
from pipeline.items.tickers import CompanyMatcher, TickerExtractor
from pipeline.model.classify import BatchClassifier
from pipeline.storage.results import CLASSIFICATIONS, ResultBatch, TimePolicy, store_batch
from tests.unit.stream_fakes import T0, FakeRuntime, event, sqlite_memory_engine

OLD = ModelRecord("v1", "tiny")
NEW = ModelRecord(FakeRuntime.version, "fake")
POLICY = TimePolicy(timedelta(minutes=5), timedelta(minutes=10))


@pytest.fixture
def engine() -> Engine:
    engine = sqlite_memory_engine()
    items = [
        ScoredEvent(
            event(f"i{h}", f"story {h} falls", published_at=(T0 + timedelta(hours=h)).isoformat()),
            f"hash{h}",
            Scores("Macro", 0.5, "neutral", 0.2, 0.6, 0.2, 0.0),
            (),
        )
        for h in range(5)
    ]
    store_batch(engine, ResultBatch(OLD, items, T0 + timedelta(hours=5)), POLICY)
    return engine


def classifier() -> BatchClassifier:
    return BatchClassifier(FakeRuntime(), TickerExtractor(CompanyMatcher(())))


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        pytest.param(TimeRange(), 5, id="everything"),
        pytest.param(
            TimeRange(T0 + timedelta(hours=1), T0 + timedelta(hours=3)),
            2,
            id="from inclusive, to exclusive",
        ),
        pytest.param(TimeRange(start=T0 + timedelta(hours=4)), 1, id="open end"),
    ],
)
def test_rescore_writes_new_rows_beside_the_old_and_resumes(
    engine: Engine, span: TimeRange, expected: int
) -> None:
    now = datetime.now(UTC)
    assert count_unscored(engine, NEW.version, span) == expected
    assert rescore_page(engine, classifier(), NEW, span, now, limit=expected - 1 or 1) >= 1
    done = rescore_page(engine, classifier(), NEW, span, now, limit=10)
    assert rescore_page(engine, classifier(), NEW, span, now, limit=10) == 0
    assert done == max(0, expected - (expected - 1 or 1))
    with engine.connect() as conn:
        rows = dict(
            conn.execute(
                select(CLASSIFICATIONS.c.model_version, func.count()).group_by(
                    CLASSIFICATIONS.c.model_version
                )
            ).all()
        )
        sentiments = set(
            conn.execute(
                select(CLASSIFICATIONS.c.sentiment).where(
                    CLASSIFICATIONS.c.model_version == NEW.version
                )
            ).scalars()
        )
    assert rows == {"v1": 5, NEW.version: expected}
    assert sentiments == {"negative"}
