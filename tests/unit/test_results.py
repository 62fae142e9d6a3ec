from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from pipeline.items.scored import Coordinates, ModelRecord, ScoredEvent, Scores
from pipeline.items.tickers import Mention
from pipeline.storage.results import (
    CLASSIFICATIONS,
    ITEMS,
    MENTIONS,
    ResultBatch,
    TimePolicy,
    find_originals,
    store_batch,
    store_classifications,
)
from tests.unit.stream_fakes import T0, event, sqlite_memory_engine

MODEL = ModelRecord("v1", "tiny", {"labels": ["a"]})
SCORES = Scores("Earnings", 0.9, "positive", 0.1, 0.2, 0.7, 0.6)
POLICY = TimePolicy(timedelta(minutes=5), timedelta(minutes=10))


@pytest.fixture
def engine() -> Engine:
    return sqlite_memory_engine()


def item(
    ident: str,
    reprint_of: str | None = None,
    published: datetime = T0,
    mentions: tuple[str, ...] = ("AAPL",),
) -> ScoredEvent:
    return ScoredEvent(
        event(ident, f"headline {reprint_of or ident}", published_at=published.isoformat()),
        f"hash-{reprint_of or ident}",
        SCORES,
        tuple(Mention(s, "cashtag") for s in mentions),
        reprint_of,
        Coordinates("news.raw", 2, 40),
    )


def count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_batch_is_stored_once_even_when_replayed(engine: Engine) -> None:
    batch = ResultBatch(MODEL, [item("1"), item("2", mentions=("AAPL", "MSFT"))], T0)
    first = store_batch(engine, batch, POLICY)
    again = store_batch(engine, batch, POLICY)
    assert (first.items, first.classifications, first.mentions) == (2, 2, 3)
    assert (again.items, again.classifications, again.mentions) == (0, 0, 0)
    assert (count(engine, ITEMS), count(engine, CLASSIFICATIONS), count(engine, MENTIONS)) == (
        2,
        2,
        3,
    )


def test_reprint_listed_before_its_original_still_stores(engine: Engine) -> None:
    store_batch(engine, ResultBatch(MODEL, [item("2", reprint_of="1"), item("1")], T0), POLICY)
    with engine.connect() as conn:
        rows = dict(conn.execute(select(ITEMS.c.id, ITEMS.c.reprint_of)).all())
    assert rows == {"1": None, "2": "1"}


@pytest.mark.parametrize(
    ("published", "event_time", "late"),
    [
        pytest.param(T0, T0, False, id="on time"),
        pytest.param(
            T0 + timedelta(hours=1),
            T0 + timedelta(minutes=5),
            False,
            id="future clamped to processed + skew",
        ),
        pytest.param(
            T0 - timedelta(minutes=11),
            T0 - timedelta(minutes=11),
            True,
            id="past the lateness horizon",
        ),
        pytest.param(
            T0 - timedelta(minutes=10),
            T0 - timedelta(minutes=10),
            False,
            id="at the horizon is not late",
        ),
    ],
)
def test_event_time_and_lateness(engine: Engine, published, event_time, late) -> None:  # type: ignore[no-untyped-def]
    store_batch(engine, ResultBatch(MODEL, [item("1", published=published)], T0), POLICY)
    with engine.connect() as conn:
        row = conn.execute(select(ITEMS.c.event_time, ITEMS.c.late)).one()
        class_time = conn.execute(select(CLASSIFICATIONS.c.event_time)).scalar_one()
    assert row.event_time.replace(tzinfo=T0.tzinfo) == event_time
    assert class_time.replace(tzinfo=T0.tzinfo) == event_time
    assert row.late is late


def test_find_originals_prefers_the_original_under_that_version(engine: Engine) -> None:
    store_batch(engine, ResultBatch(MODEL, [item("1"), item("2", reprint_of="1")], T0), POLICY)
    assert find_originals(engine, ["hash-1", "hash-9"], "v1") == {"hash-1": ("1", SCORES)}
    assert find_originals(engine, ["hash-1"], "v2") == {}
    assert find_originals(engine, [], "v1") == {}


def test_classifications_of_a_new_model_sit_beside_the_old(engine: Engine) -> None:
    store_batch(engine, ResultBatch(MODEL, [item("1")], T0), POLICY)
    v2 = ModelRecord("v2", "tiny", {})
    times = {"1": T0}
    assert store_classifications(engine, v2, [item("1")], times, T0) == 1
    assert store_classifications(engine, v2, [item("1")], times, T0) == 0
    with engine.connect() as conn:
        versions = sorted(conn.execute(select(CLASSIFICATIONS.c.model_version)).scalars())
    assert versions == ["v1", "v2"]


def test_the_same_id_twice_in_one_batch_is_stored_once(engine: Engine) -> None:
    written = store_batch(engine, ResultBatch(MODEL, [item("1"), item("1")], T0), POLICY)
    assert (written.items, written.classifications, written.mentions) == (1, 1, 1)
    assert count(engine, ITEMS) == 1
