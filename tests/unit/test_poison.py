"""Poison records: crash marks counted per offset, suspects processed alone, the culprit
dead-lettered as `poison` with its coordinates, every other record stored once."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine

from pipeline.clock import WallClock
from pipeline.consumer import store
from pipeline.consumer.commit import Committer
from pipeline.consumer.crash_ledger import CrashLedger, CrashMark, SqlCrashLedger
from pipeline.consumer.decode import RawRecord
from pipeline.consumer.factory import Chain, ChainDeps, build_chain
from pipeline.consumer.poison import PoisonWatch, Suspicion, suspicion
from pipeline.consumer.steps import Message, MessageRejected, Partition
from pipeline.errors import StorageError
from pipeline.items.companies import Company
from pipeline.items.scored import ModelRecord
from pipeline.items.tickers import CompanyMatcher, TickerExtractor
from pipeline.metrics import ClassifierMetrics
from pipeline.model.classify import BatchClassifier
from pipeline.storage import (
    consumer_tables,  # noqa: F401 - registers the table for create_all
    results,
)
from pipeline.storage.results import ResultBatch, TimePolicy, WriteCounts
from tests.unit.stream_fakes import T0, FakePrediction, FakeRuntime, sqlite_memory_engine
from tests.unit.test_consumer_chain import FakeSink, good, message, settings, stored_ids

P0, P1 = Partition("news.raw", 0), Partition("news.raw", 1)


class FakeLedger:
    """The ledger in a dict keyed like the table: (partition, first offset)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[Partition, int], dict[str, object]] = {}
        self.writes = 0
        self.down = False

    def mark(self, partition: Partition, first: int, last: int, isolated: bool) -> None:
        self._write()
        row = self.rows.setdefault((partition, first), {"last": last, "crashes": 0})
        row.update(last=max(last, int(str(row["last"]))), in_flight=True, isolated=isolated)

    def clear(self, partition: Partition, below: int) -> None:
        self._write()
        for key in [
            k for k, r in self.rows.items() if k[0] == partition and _int(r, "last") < below
        ]:
            del self.rows[key]

    def release(self, partitions: Iterable[Partition]) -> None:
        self._write()
        owned = set(partitions)
        for key, row in list(self.rows.items()):
            if key[0] in owned and row["in_flight"]:
                if _int(row, "crashes") == 0:
                    del self.rows[key]
                else:
                    row["in_flight"] = False

    def count_crashes(self, partitions: Iterable[Partition]) -> list[CrashMark]:
        self._write()
        owned = set(partitions)
        marks = []
        for (partition, first), row in sorted(self.rows.items()):
            if partition not in owned:
                continue
            if row["in_flight"]:
                row.update(crashes=_int(row, "crashes") + 1, in_flight=False)
            if _int(row, "crashes"):
                marks.append(
                    CrashMark(
                        partition,
                        first,
                        _int(row, "last"),
                        _int(row, "crashes"),
                        bool(row["isolated"]),
                    )
                )
        return marks

    def _write(self) -> None:
        if self.down:
            raise StorageError("database is down")
        self.writes += 1


def _int(row: Mapping[str, object], key: str) -> int:
    return int(str(row[key]))


def sql_ledger() -> SqlCrashLedger:
    return SqlCrashLedger(sqlite_memory_engine(), "finsent-classifier", lambda: T0)


LEDGERS = [
    pytest.param(FakeLedger, id="fake ledger"),
    pytest.param(sql_ledger, id="sql ledger (sqlite)"),
]


@pytest.mark.parametrize(
    ("marks", "resume_at", "expected"),
    [
        pytest.param([], 0, None, id="never crashed"),
        pytest.param([CrashMark(P0, 0, 9, 1)], 0, None, id="one crash is not enough"),
        pytest.param(
            [CrashMark(P0, 0, 9, 2)], 0, Suspicion(P0, 0, 9, 2), id="two crashes at one offset"
        ),
        pytest.param(
            [CrashMark(P0, 0, 9, 1), CrashMark(P0, 4, 12, 1)],
            4,
            Suspicion(P0, 4, 9, 2),
            id="crashes at two offsets, one range still ahead of both",
        ),
        pytest.param(
            [CrashMark(P0, 0, 3, 1), CrashMark(P0, 4, 12, 1)],
            4,
            None,
            id="an older crash already committed past",
        ),
        pytest.param(
            [CrashMark(P0, 0, 9, 2), CrashMark(P0, 5, 5, 1, isolated=True)],
            5,
            Suspicion(P0, 5, 5, 3, culprit=5),
            id="the record processed alone crashed: culprit",
        ),
        pytest.param(
            [CrashMark(P0, 0, 9, 2), CrashMark(P0, 5, 5, 1, isolated=True)],
            3,
            Suspicion(P0, 3, 5, 3),
            id="isolated mark ahead of the resume offset is no verdict yet",
        ),
    ],
)
def test_suspicion_from_crash_marks(
    marks: list[CrashMark], resume_at: int, expected: Suspicion | None
) -> None:
    assert suspicion(marks, resume_at, threshold=2) == expected


@pytest.mark.parametrize("make_ledger", LEDGERS)
def test_ledger_contract_counts_only_marks_left_in_flight(
    make_ledger: Callable[[], CrashLedger],
) -> None:
    ledger = make_ledger()
    ledger.mark(P0, 0, 4, False)
    ledger.mark(P0, 0, 9, False)  # the same run grew: one mark, its end moved
    ledger.mark(P1, 0, 2, False)
    ledger.clear(P1, 3)  # committed past: forgotten
    assert ledger.count_crashes([P0, P1]) == [CrashMark(P0, 0, 9, 1)]
    assert ledger.count_crashes([P0, P1]) == [CrashMark(P0, 0, 9, 1)], "counted once"
    ledger.mark(P0, 0, 9, False)
    ledger.release([P0])  # a clean hand-back is no crash
    assert ledger.count_crashes([P0]) == [CrashMark(P0, 0, 9, 1)]
    ledger.mark(P0, 6, 6, True)
    assert ledger.count_crashes([P0]) == [CrashMark(P0, 0, 9, 1), CrashMark(P0, 6, 6, 1, True)]
    ledger.clear(P0, 10)
    assert ledger.count_crashes([P0]) == []


class CrashingRuntime(FakeRuntime):
    """Dies (like a segfault would kill the process) on any text holding `poison`, in the
    step named by `where`."""

    def __init__(self, where: str) -> None:
        super().__init__()
        self.where = where

    def classify_encoded(self, ids: Sequence[Sequence[int]]) -> list[FakePrediction]:
        self._maybe_die("inference", [self.text_of(row) for row in ids])
        return super().classify_encoded(ids)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        self._maybe_die("batching", texts)
        return super().token_ids(texts)

    def _maybe_die(self, step: str, texts: Sequence[str]) -> None:
        if step == self.where and any("poison" in t.lower() for t in texts):
            raise WorkerDiedError(f"the worker died in {step}")


class WorkerDiedError(Exception):
    """Stands for the process dying: nothing after it runs, no clean hand-back."""


RECORDS = 12
POISON_AT = 7


def one_life(
    engine: Engine,
    sink: FakeSink,
    ledger: FakeLedger,
    committed: dict[Partition, int],
    threshold: int,
    where: str = "inference",
) -> bool:
    """One worker process from assignment to a drained end; False when it died."""
    watch = PoisonWatch(ledger, threshold) if threshold else None
    runtime = CrashingRuntime(where)
    deps = ChainDeps(
        settings(),
        BatchClassifier(runtime, TickerExtractor(CompanyMatcher([Company("AAPL", "Apple", ())]))),
        engine,
        ModelRecord(runtime.version, "fake"),
        WallClock(),
        ClassifierMetrics(CollectorRegistry()),
        sink,
        poison=watch,
    )

    def acknowledged(offsets: Mapping[Partition, int]) -> bool:
        committed.update(offsets)
        if watch is not None:
            watch.committed(offsets)
        return True

    chain = build_chain(deps, Committer(acknowledged))
    start = committed.get(P0, 0)
    if watch is not None:
        watch.assigned([P0])
        watch.fetched(P0, start, RECORDS - 1)
    values = {
        o: good(f"e{o}", "poison pill" if o == POISON_AT else "Apple rises") for o in range(RECORDS)
    }
    try:
        for offset in range(start, RECORDS):
            _submit(chain, message(P0, offset, values[offset]))
        chain.join(5.0)
    except WorkerDiedError:
        return False
    chain.terminate()
    if watch is not None:
        watch.released()
    return True


def _submit(chain: Chain, msg: Message[RawRecord]) -> None:
    deadline = time.monotonic() + 5
    while True:
        try:
            chain.submit(msg)
            return
        except MessageRejected:
            chain.poll()
            time.sleep(0.001)
            assert time.monotonic() < deadline, "chain never took the message"


@pytest.mark.parametrize(
    ("threshold", "where", "recovers", "deaths"),
    [
        pytest.param(2, "inference", True, 3, id="dies in inference: culprit after 3 deaths"),
        pytest.param(2, "batching", True, 3, id="dies counting tokens: culprit after 3 deaths"),
        pytest.param(2, "storage", True, 3, id="dies storing: culprit after 3 deaths"),
        pytest.param(0, "inference", False, 6, id="negative control, counter off: crash-loops"),
    ],
)
def test_a_record_that_kills_the_worker_is_dead_lettered_as_poison(
    monkeypatch: pytest.MonkeyPatch, threshold: int, where: str, recovers: bool, deaths: int
) -> None:
    engine, sink, ledger = sqlite_memory_engine(), FakeSink(), FakeLedger()
    if where == "storage":
        monkeypatch.setattr(store, "store_batch", _dies_storing_poison(results.store_batch))
    committed: dict[Partition, int] = {}
    lives = [one_life(engine, sink, ledger, committed, threshold, where) for _ in range(6)]
    assert lives.count(False) == deaths
    assert (True in lives) == recovers
    if not recovers:
        assert sink.sent == []
        return
    assert lives[:4] == [False, False, False, True]
    [letter] = [r.letter for r in sink.sent]
    assert (
        letter.kind,
        letter.original_topic,
        letter.original_partition,
        letter.original_offset,
    ) == (
        "poison",
        "news.raw",
        0,
        POISON_AT,
    )
    assert "killed the worker" in letter.reason
    assert stored_ids(engine) == {f"e{o}" for o in range(RECORDS) if o != POISON_AT}
    assert committed[P0] == RECORDS
    assert ledger.rows == {}, "every mark cleared once committed"


def _dies_storing_poison(real: Callable[..., WriteCounts]) -> Callable[..., WriteCounts]:
    def store_batch(engine: Engine, batch: ResultBatch, policy: TimePolicy) -> WriteCounts:
        if any("poison" in item.event.headline for item in batch.items):
            raise WorkerDiedError("the worker died in storage")
        return real(engine, batch, policy)

    return store_batch


def test_marks_are_written_per_fetched_run_not_per_message() -> None:
    ledger = FakeLedger()
    watch = PoisonWatch(ledger, 2)
    watch.assigned([P0, P1])
    watch.fetched(P0, 0, 499)
    watch.fetched(P1, 0, 99)
    watch.committed({P0: 200})
    watch.committed({P0: 500, P1: 100})
    assert ledger.writes == 1 + 2 + 2, "assign, one mark per run, one clear per finished run"
    assert ledger.rows == {}


def test_a_ledger_outage_never_stops_the_worker(caplog: pytest.LogCaptureFixture) -> None:
    ledger = FakeLedger()
    ledger.down = True
    watch = PoisonWatch(ledger, 2)
    watch.assigned([P0])
    watch.fetched(P0, 0, 9)
    watch.committed({P0: 10})
    watch.released()
    assert "crash ledger unavailable" in caplog.text
    assert caplog.text.count("crash ledger unavailable") == 1, "one warning per outage interval"
