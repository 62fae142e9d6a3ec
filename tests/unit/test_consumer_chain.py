"""The processing chain end to end on fakes: rows before offsets, dead letters, backpressure."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, select

from pipeline.clock import WallClock
from pipeline.consumer.commit import Committer
from pipeline.consumer.dead_letters import DeadLetterError
from pipeline.consumer.decode import RawRecord, Rejected
from pipeline.consumer.factory import Chain, ChainDeps, StepWrapper, build_chain
from pipeline.consumer.steps import (
    ForwardingStep,
    Message,
    MessageRejected,
    Partition,
    ProcessingStep,
)
from pipeline.errors import StorageError
from pipeline.items.companies import Company
from pipeline.items.scored import Coordinates, ModelRecord
from pipeline.items.tickers import CompanyMatcher, TickerExtractor
from pipeline.metrics import ClassifierMetrics
from pipeline.model.bundle import ModelBundle
from pipeline.model.classify import BatchClassifier, InferenceRuntime
from pipeline.model.encoding import TextEncoder
from pipeline.model.runtime import ModelRuntime
from pipeline.settings import Settings, load_settings, setting_env_names
from pipeline.storage import results
from pipeline.storage.results import CLASSIFICATIONS, ITEMS
from tests.unit.stream_fakes import T0, FakeRuntime, sqlite_memory_engine

P0, P1 = Partition("news.raw", 0), Partition("news.raw", 1)
ROOT = Path(__file__).resolve().parents[2]


class FakeAck:
    def __init__(self, ok: bool) -> None:
        self.ok = ok

    def wait(self, timeout: float) -> None:
        if not self.ok:
            raise DeadLetterError("broker said no")


class FakeSink:
    """Records dead letters; the first `failures` sends are not acknowledged."""

    def __init__(self, failures: int = 0) -> None:
        self.sent: list[Rejected] = []
        self.failures = failures

    def send(self, rejected: Rejected) -> FakeAck:
        self.sent.append(rejected)
        ok = self.failures <= 0
        self.failures -= 1
        return FakeAck(ok)


def good(ident: str, headline: str = "Apple rises") -> bytes:
    return json.dumps(
        {"id": ident, "source": "wire", "published_at": T0.isoformat(), "headline": headline}
    ).encode()


def message(partition: Partition, offset: int, value: bytes | None) -> Message[RawRecord]:
    where = Coordinates(partition.topic, partition.index, offset, 0, b"k")
    return Message(RawRecord(value, where), {partition: offset + 1})


def settings() -> Settings:
    return load_settings(
        batching={"max_batch_size": 4, "max_wait_ms": 1, "pipeline_depth": 1},
        classifier={"retry_backoff_max_s": 0.01},
        _env_file=None,
    )


def stored_ids(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(ITEMS.c.id)).scalars())


def make_chain(
    engine: Engine,
    sink: FakeSink,
    on_commit: Callable[[Mapping[Partition, int]], None],
    config: Settings | None = None,
    runtime: InferenceRuntime | None = None,
    wrap: StepWrapper | None = None,
) -> Chain:
    runtime = runtime or FakeRuntime()
    extractor = TickerExtractor(CompanyMatcher([Company("AAPL", "Apple Inc.", ("Apple",))]))
    deps = ChainDeps(
        config or settings(),
        BatchClassifier(runtime, extractor),
        engine,
        ModelRecord(runtime.version, "fake"),
        WallClock(),
        ClassifierMetrics(CollectorRegistry()),
        sink,
        wrap=wrap,
    )

    def acknowledged(offsets: Mapping[Partition, int]) -> bool:
        on_commit(offsets)
        return True

    return build_chain(deps, Committer(acknowledged))


def feed(chain: Chain, messages: list[Message[RawRecord]], deadline_s: float = 5.0) -> None:
    deadline = time.monotonic() + deadline_s
    for m in messages:
        while True:
            try:
                chain.submit(m)
                break
            except MessageRejected:
                chain.poll()
                time.sleep(0.001)
                assert time.monotonic() < deadline, "chain never took the message"
    chain.join(deadline_s)
    chain.terminate()


def test_offsets_are_committed_only_for_stored_or_dead_lettered_messages() -> None:
    engine, sink = sqlite_memory_engine(), FakeSink()
    violations: list[str] = []
    commits: list[dict[Partition, int]] = []
    sent = {
        (P0, 0): "a",
        (P0, 1): None,
        (P0, 2): "b",
        (P1, 0): "c",
        (P1, 1): "d",
        (P0, 3): "e",
    }

    def on_commit(offsets: Mapping[Partition, int]) -> None:
        present = stored_ids(engine)
        dead = {(r.letter.original_partition, r.letter.original_offset) for r in sink.sent}
        for (partition, offset), ident in sent.items():
            if offset < offsets.get(partition, -1):
                done = ident in present if ident else (partition.index, offset) in dead
                if not done:
                    violations.append(f"{partition}@{offset} committed before it was done")
        commits.append(dict(offsets))

    chain = make_chain(engine, sink, on_commit)
    values = {key: good(ident) if ident else b"{oops" for key, ident in sent.items()}
    feed(chain, [message(p, o, values[(p, o)]) for (p, o) in sent])
    assert violations == []
    assert stored_ids(engine) == {"a", "b", "c", "d", "e"}
    final = {p: max(c[p] for c in commits if p in c) for p in (P0, P1)}
    assert final == {P0: 4, P1: 2}
    assert [r.letter.kind for r in sink.sent] == ["json"]
    assert sink.sent[0].letter.original_offset == 1
    assert sink.sent[0].value == b"{oops"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        pytest.param(None, "empty", id="tombstone"),
        pytest.param(b"\xff\xfe", "encoding", id="not utf-8"),
        pytest.param(b'{"id": "x"}', "missing_field", id="missing fields"),
        pytest.param(
            b'{"source": "w", "published_at": "2026-01-01T00:00:00Z", "headline": "h", '
            b'"schema_version": "2.0"}',
            "schema_version",
            id="unknown major version",
        ),
        pytest.param(b"x" * 300_000, "oversize", id="oversize excerpt"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "json", id="nested deeper than the stack"),
        pytest.param(b'{"n": ' + b"9" * 5_000 + b"}", "json", id="integer of 5,000 digits"),
    ],
)
def test_poison_goes_to_the_dead_letter_sink_with_its_reason(
    value: bytes | None, kind: str
) -> None:
    engine, sink = sqlite_memory_engine(), FakeSink()
    commits: list[Mapping[Partition, int]] = []
    chain = make_chain(engine, sink, lambda o: commits.append(dict(o)))
    feed(chain, [message(P0, 7, value), message(P0, 8, good("ok"))])
    letter = sink.sent[0].letter
    assert (letter.kind, letter.original_offset, letter.original_key) == (kind, 7, "k")
    assert letter.reason
    assert stored_ids(engine) == {"ok"}
    assert commits[-1] == {P0: 9}
    if kind == "oversize":
        assert letter.truncated
        assert not letter.replayable
        assert len(sink.sent[0].value) == 65_536


def test_unacknowledged_dead_letter_is_resent_before_the_commit() -> None:
    engine, sink = sqlite_memory_engine(), FakeSink(failures=2)
    commits: list[Mapping[Partition, int]] = []
    chain = make_chain(engine, sink, lambda o: commits.append(dict(o)))
    feed(chain, [message(P0, 0, b"nope")])
    assert len(sink.sent) == 3
    assert commits == [{P0: 1}]


def test_database_outage_backs_up_the_chain_and_loses_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, sink = sqlite_memory_engine(), FakeSink()
    down = [True]
    real = results.store_batch

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if down[0]:
            raise StorageError("connection refused")
        return real(*args, **kwargs)

    monkeypatch.setattr("pipeline.consumer.store.store_batch", flaky)
    commits: list[Mapping[Partition, int]] = []
    chain = make_chain(engine, sink, lambda o: commits.append(dict(o)))
    rejected = False
    offset = 0
    deadline = time.monotonic() + 5
    while not rejected and time.monotonic() < deadline:
        try:
            chain.submit(message(P0, offset, good(f"i{offset}", f"story {offset}")))
            offset += 1
        except MessageRejected:
            rejected = True
        chain.poll()
    assert rejected, "a full chain must reject, not block or drop"
    assert commits == []
    down[0] = False
    remaining = [message(P0, o, good(f"i{o}", f"story {o}")) for o in range(offset, offset + 3)]
    feed(chain, remaining)
    assert stored_ids(engine) == {f"i{o}" for o in range(offset + 3)}
    assert commits[-1] == {P0: offset + 3}


class Tally(ForwardingStep[Any]):
    """Counts the messages a wrapped step is handed, then hands them on."""

    def __init__(self, next_step: ProcessingStep[Any], counts: Counter[str], name: str) -> None:
        super().__init__(next_step)
        self._counts, self._name = counts, name

    def submit(self, message: Message[Any]) -> None:
        self._counts[self._name] += 1
        self._next.submit(message)


def test_the_wrap_hook_wraps_every_named_step_in_the_flow_of_messages() -> None:
    engine, sink = sqlite_memory_engine(), FakeSink()
    wrapped: list[str] = []
    handed: Counter[str] = Counter()

    def tally(name: str, step: ProcessingStep[Any], committer: Committer) -> ProcessingStep[Any]:
        wrapped.append(name)
        return Tally(step, handed, name)

    commits: list[dict[Partition, int]] = []
    chain = make_chain(engine, sink, lambda o: commits.append(dict(o)), wrap=tally)
    feed(chain, [message(P0, o, good(f"w{o}", f"story {o}")) for o in range(4)])

    assert wrapped == ["commit", "store", "infer", "batch", "dead_letters", "decode"]
    assert (handed["decode"], handed["dead_letters"]) == (4, 4), "one message per record"
    assert handed["batch"] == 4
    assert handed["infer"] == handed["store"] == handed["commit"] >= 1, "one per batch"
    assert stored_ids(engine) == {f"w{o}" for o in range(4)}
    assert commits[-1] == {P0: 4}


def test_production_holds_no_fault_to_switch_on() -> None:
    """Faults live in tests/chain_faults.py: no setting names them and no production module
    can kill its own process."""
    assert "testing" not in Settings.model_fields
    assert not any("TESTING" in env for env in setting_env_names())
    killers = [
        path.relative_to(ROOT).as_posix()
        for folder in ("pipeline", "workers")
        for path in (ROOT / folder).rglob("*.py")
        if "SIGKILL" in path.read_text(encoding="utf-8")
    ]
    assert killers == []


def test_rows_the_database_refuses_become_dead_letters_not_a_stall(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, sink = sqlite_memory_engine(), FakeSink()
    real = results.store_batch

    def picky(engine: Engine, batch: results.ResultBatch, policy: Any) -> Any:
        if any(item.event.id == "bad" for item in batch.items):
            raise results.RowsRejectedError("value too long for type character varying(16)")
        return real(engine, batch, policy)

    monkeypatch.setattr("pipeline.consumer.store.store_batch", picky)
    commits: list[Mapping[Partition, int]] = []
    chain = make_chain(engine, sink, lambda o: commits.append(dict(o)))
    feed(chain, [message(P0, o, good(ident)) for o, ident in enumerate(["a", "bad", "c"])])
    assert stored_ids(engine) == {"a", "c"}
    assert [(r.letter.kind, r.letter.original_offset) for r in sink.sent] == [("storage", 1)]
    assert "value too long" in sink.sent[0].letter.reason
    assert json.loads(sink.sent[0].value)["id"] == "bad"
    assert commits[-1] == {P0: 3}


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(RecursionError("maximum recursion depth exceeded"), id="recursion"),
        pytest.param(TypeError("unhashable type"), id="a bug in validation"),
        pytest.param(MemoryError(), id="out of memory for one message"),
    ],
)
def test_an_unexpected_decode_error_dead_letters_the_message_as_internal(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    import pipeline.consumer.decode as decode

    real = decode.decode_news_event

    def fail_on_poison(raw: bytes, max_bytes: int) -> object:
        if raw == b"poison":
            raise error
        return real(raw, max_bytes)

    monkeypatch.setattr(decode, "decode_news_event", fail_on_poison)
    engine, sink = sqlite_memory_engine(), FakeSink()
    commits: list[Mapping[Partition, int]] = []
    chain = make_chain(engine, sink, lambda o: commits.append(dict(o)))
    feed(chain, [message(P0, 3, b"poison"), message(P0, 4, good("after"))])
    letter = sink.sent[0].letter
    assert (letter.kind, letter.original_offset) == ("internal", 3)
    assert type(error).__name__ in letter.reason
    assert stored_ids(engine) == {"after"}
    assert commits[-1] == {P0: 5}


WORKER_TEXTS = [
    "Apple soars on quarterly dividend payout",
    "Tesla plunges after quarterly earnings and revenue miss",
    "ok",
    "Globex schedules its ipo listing for the spring",
    " ".join(["Initech crashes after the lawsuit and regulator probe"] * 4),
    "$XOM jumps after crude oil output",
    "Fed holds rates",
    "Umbrella Corp beats estimates, raises guidance for the year",
    "Shares of Acme fall",
    "Wayne Enterprises to acquire a rival in an all-stock deal",
]


def test_the_worker_path_tokenizes_each_text_once_and_scores_it_by_its_own_ids(
    test_bundle: ModelBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fp32: int8's dynamic quantization makes scores depend a little on the batch's company.
    runtime = ModelRuntime(test_bundle, provider="cpu", precision="fp32")
    expected = {str(i): p for i, p in enumerate(runtime.classify(WORKER_TEXTS))}
    tokenized: Counter[str] = Counter()
    token_ids = TextEncoder.token_ids

    def counting(encoder: TextEncoder, texts: Sequence[str]) -> list[list[int]]:
        tokenized.update(texts)
        return token_ids(encoder, texts)

    monkeypatch.setattr(TextEncoder, "token_ids", counting)
    engine = sqlite_memory_engine()
    chain = make_chain(engine, FakeSink(), lambda _: None, runtime=runtime)
    feed(chain, [message(P0, i, good(str(i), text)) for i, text in enumerate(WORKER_TEXTS)])
    runtime.close()
    assert tokenized == Counter(WORKER_TEXTS)
    with engine.connect() as conn:
        rows = conn.execute(select(CLASSIFICATIONS)).all()
    assert {row.item_id for row in rows} == set(expected)
    for row in rows:  # the ids that travelled with each text are that text's own
        want = expected[row.item_id]
        assert row.sentiment == want.sentiment
        assert (row.p_negative, row.p_neutral, row.p_positive) == pytest.approx(
            want.probabilities, abs=1e-4
        )
