"""Issue 4 acceptance on the real Kafka and Postgres: each item stored exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.worker_harness import (
    CLI,
    REPO,
    Stack,
    Worker,
    db_scalar,
    group_lag,
    news,
    produce,
    produce_events,
    read_topic,
    stored_ids,
    stream_of,
)


@pytest.fixture
def workers(tmp_path: Path):  # type: ignore[no-untyped-def]
    started: list[Worker] = []

    def start(stack: Stack, name: str = "w", faults: tuple[str, ...] = (), **env: str) -> Worker:
        worker = Worker(stack, tmp_path / f"{name}-{len(started)}.log", faults, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop_quietly()


def counts(url: str) -> tuple[int, int, int, int]:
    return (
        db_scalar(url, "SELECT count(*) FROM news_items"),
        db_scalar(url, "SELECT count(*) FROM classifications"),
        db_scalar(url, "SELECT count(*) FROM ticker_mentions"),
        db_scalar(url, "SELECT count(DISTINCT (item_id, symbol)) FROM ticker_mentions"),
    )


def test_5000_events_with_500_reprints_inferred_once_per_content(stack: Stack, workers) -> None:  # type: ignore[no-untyped-def]
    events = stream_of(5000, reprints=500)
    produce_events(stack, events)
    worker = workers(stack)
    worker.wait_for("5000 committed", lambda: worker.committed() >= 5000, timeout=150)

    items, classifications, mentions, distinct_mentions = counts(stack.db_url)
    assert (items, classifications) == (5000, 5000)
    assert mentions == distinct_mentions == 5000
    assert stored_ids(stack.db_url) == {ident for ident, _ in events}
    assert (
        db_scalar(stack.db_url, "SELECT count(*) FROM news_items WHERE reprint_of IS NOT NULL")
        == 500
    )
    assert db_scalar(stack.db_url, "SELECT count(DISTINCT content_hash) FROM news_items") == 4500
    metrics = worker.metrics()
    assert metrics["finsent_classifier_inferences_total"] == 4500
    assert metrics["finsent_classifier_reprints_total"] == 500
    worker.wait_for("lag metric 0", lambda: _lag_metric(worker) == 0, timeout=10)
    assert group_lag(stack) == 0
    assert worker.terminate() == 0


def _lag_metric(worker: Worker) -> float:
    lags = [
        v for k, v in worker.metrics().items() if k.startswith("finsent_classifier_consumer_lag{")
    ]
    return sum(lags) if len(lags) == 6 else -1


def test_a_backlog_of_large_events_does_not_stall_the_fetch(stack: Stack, workers) -> None:  # type: ignore[no-untyped-def]
    # ~200 KB bodies: every fetch response is several MB, far above kafka-python's 1 MB
    # default frame limit, which refuses such a response and retries it forever.
    events = [
        (f"big{i}", news(f"big{i}", f"$T{i} Company{i} shares rise", body="word " * 40_000))
        for i in range(48)
    ]
    produce_events(stack, events)
    worker = workers(stack)
    worker.wait_for("every large event stored", lambda: len(stored_ids(stack.db_url)) == 48)
    worker.wait_for("lag 0", lambda: group_lag(stack) == 0, timeout=30)
    assert "Invalid frame length" not in worker.log()
    assert worker.terminate() == 0


def test_sigterm_drains_in_flight_work_and_exits_0(stack: Stack, workers) -> None:  # type: ignore[no-untyped-def]
    events = stream_of(1500, reprints=0, tag="s")
    produce_events(stack, events)
    worker = workers(stack)
    worker.wait_for(
        "work in flight",
        lambda: (
            worker.committed() > 0 and worker.metric("finsent_classifier_uncommitted_messages") > 0
        ),
    )
    assert worker.terminate() == 0
    log = worker.log()
    assert "shutdown: chain drained" in log
    assert "Traceback" not in log, "a clean shutdown logs no traceback, ours or the client's"
    # Everything below the committed offsets is stored: draining committed nothing early.
    lag = group_lag(stack)
    assert len(stored_ids(stack.db_url)) >= 1500 - lag
    second = workers(stack)
    # The first worker may have drained everything: then only start-up is left to interrupt,
    # and a SIGTERM during Python's imports (before any handler exists) is not the case here.
    second.wait_for("the model serving", lambda: "serving on" in second.log(), timeout=90)
    second.wait_for("the rest", lambda: len(stored_ids(stack.db_url)) == 1500, timeout=90)
    second.wait_for("lag 0", lambda: group_lag(stack) == 0, timeout=30)
    assert second.terminate() == 0


@pytest.mark.parametrize("how", ["external kill -9", "crash point between the commits"])
def test_kill_9_then_restart_stores_every_event_exactly_once(
    stack: Stack, workers, how: str
) -> None:  # type: ignore[no-untyped-def]
    events = stream_of(1200, reprints=120, tag="k")
    produce_events(stack, events)
    env = {"FINSENT_KAFKA__PUBLISH_SCORED": "true"}
    if how == "external kill -9":
        worker = workers(stack, **env)
        worker.wait_for(
            "a fetched batch not yet committed",
            lambda: (
                worker.committed() > 0
                and worker.metric("finsent_classifier_uncommitted_messages") > 0
                and worker.metric("finsent_classifier_batches_in_flight") > 0
            ),
        )
        assert worker.kill9() == -9
    else:
        worker = workers(stack, faults=("--crash-at", "3"), **env)
        assert worker.wait(90) == -9
        assert "test crash point reached (rows committed, offsets not yet)" in worker.log()
    stored_before = len(stored_ids(stack.db_url))
    lag = group_lag(stack)
    assert lag >= 1200 - stored_before, "an offset was committed before its row"
    if how != "external kill -9":
        assert lag > 1200 - stored_before, "the crash point left stored rows uncommitted"

    restarted = workers(stack, **env)
    restarted.wait_for("lag 0", lambda: group_lag(stack) == 0, timeout=120)
    items, classifications, mentions, distinct_mentions = counts(stack.db_url)
    assert (items, classifications) == (1200, 1200)
    assert mentions == distinct_mentions
    assert stored_ids(stack.db_url) == {ident for ident, _ in events}
    assert restarted.terminate() == 0
    scored = read_topic(stack.bootstrap, stack.scored)
    assert {r.key.decode() for r in scored} == {ident for ident, _ in events}
    assert all(json.loads(r.value)["item_id"] == r.key.decode() for r in scored)


def test_negative_control_wrong_commit_order_loses_items(stack: Stack, workers) -> None:  # type: ignore[no-untyped-def]
    events = stream_of(600, reprints=0, tag="n")
    produce_events(stack, events)
    worker = workers(stack, faults=("--offsets-first", "--crash-at", "2"))
    assert worker.wait(90) == -9
    assert "test crash point reached (offsets committed, rows not yet)" in worker.log()
    restarted = workers(stack)
    restarted.wait_for("lag 0", lambda: group_lag(stack) == 0, timeout=120)
    restarted.wait_for(
        "idle", lambda: restarted.metric("finsent_classifier_uncommitted_messages") == 0
    )
    assert restarted.terminate() == 0
    lost = {ident for ident, _ in events} - stored_ids(stack.db_url)
    assert len(lost) >= 1, "the wrong commit order must lose items; the test cannot detect loss"


POISON: dict[str, bytes | None] = {
    "json": b'{"id": "p-json", "source": "wire", ',
    "encoding": b'{"id": "p-enc", "headline": "\xff\xfe"}',
    "empty": b"   ",
    "tombstone": None,
    "array": b'[{"id": "p-array"}]',
    "missing headline": json.dumps(
        {"id": "p-nohead", "source": "w", "published_at": "2026-01-01T00:00:00Z"}
    ).encode(),
    "empty headline": news("p-emptyhead", ""),
    "missing source": json.dumps(
        {"id": "p-fixme", "published_at": "2026-01-01T00:00:00Z", "headline": "Fixable item rises"}
    ).encode(),
    "bad time": news("p-time", "x", published_at="yesterday"),
    "naive time": news("p-naive", "x", published_at="2026-01-01T00:00:00"),
    "schema major": news("p-major", "x", schema_version="2.0"),
    "headline not text": news("p-type", 42),  # type: ignore[arg-type]
    "nul byte": news("p-nul", "bad\u0000headline"),
    "oversize": news("p-big", "big", body="x" * 300_000),
}


def test_poison_mix_goes_to_the_dlq_and_a_fixed_one_replays(
    stack: Stack, workers, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    good = stream_of(300, reprints=0, tag="g")
    mixed: list[tuple[bytes | None, bytes | None]] = []
    for i, (ident, value) in enumerate(good):
        mixed.append((ident.encode(), value))
        if i % 20 == 0 and i // 20 < len(POISON):
            mixed.append((b"poison", list(POISON.values())[i // 20]))
    produce(stack.bootstrap, stack.raw, mixed)
    worker = workers(stack)
    worker.wait_for("all committed", lambda: worker.committed() >= len(mixed), timeout=90)

    assert stored_ids(stack.db_url) == {ident for ident, _ in good}
    letters = read_topic(stack.bootstrap, stack.dlq)
    headers = [dict(r.headers) for r in letters]
    assert len(letters) == len(POISON)
    assert all(
        h["finsent.reason"] and h["finsent.original_topic"] == stack.raw.encode() for h in headers
    )
    kinds = {h["finsent.kind"].decode() for h in headers}
    assert kinds >= {
        "json",
        "encoding",
        "empty",
        "oversize",
        "schema_version",
        "missing_field",
        "invalid_field",
    }
    oversize = next(r for r in letters if dict(r.headers)["finsent.kind"] == b"oversize")
    assert dict(oversize.headers)["finsent.replayable"] == b"False"
    assert len(oversize.value) == 65_536
    assert worker.metric('finsent_classifier_dead_letters_total{kind="json"}') == 1
    assert worker.proc.poll() is None, "one bad message must never crash the worker"

    listed = _finsent(stack, "dlq", "list", "--since", "10m")
    assert "missing_field" in listed.stdout
    fixme = next(r for r in letters if b"p-fixme" in (r.value or b""))
    replay = _finsent(
        stack,
        "dlq",
        "replay",
        "--since",
        "10m",
        "--at",
        f"{fixme.partition}:{fixme.offset}",
        "--patch",
        '{"source": "wire"}',
    )
    assert "replayed 1 dead letters" in replay.stdout
    worker.wait_for("fixed item stored", lambda: "p-fixme" in stored_ids(stack.db_url), timeout=30)
    assert "Traceback" not in worker.log()
    assert worker.terminate() == 0


def _finsent(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", CLI, *args],
        cwd=REPO,
        env=stack.env(COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_two_workers_split_six_partitions_and_one_takes_over(stack: Stack, workers) -> None:  # type: ignore[no-untyped-def]
    first_half = stream_of(1200, reprints=100, tag="a")
    one, two = workers(stack, "one"), workers(stack, "two")
    for worker in (one, two):
        worker.wait_for("3 partitions", lambda w=worker: _last_assignment(w) == 3, timeout=60)
    produce_events(stack, first_half)
    one.wait_for("both working", lambda: one.committed() > 0 and two.committed() > 0, timeout=90)
    assert one.terminate() == 0
    second_half = stream_of(1200, reprints=100, tag="b")
    produce_events(stack, second_half)
    two.wait_for("6 partitions", lambda: _last_assignment(two) == 6, timeout=60)
    two.wait_for("lag 0", lambda: group_lag(stack) == 0, timeout=120)
    everything = {ident for ident, _ in first_half + second_half}
    assert stored_ids(stack.db_url) == everything
    items, classifications, mentions, distinct_mentions = counts(stack.db_url)
    assert (items, classifications) == (2400, 2400)
    assert mentions == distinct_mentions
    assert two.terminate() == 0


def _last_assignment(worker: Worker) -> int:
    lines = [line for line in worker.log().splitlines() if ": assigned [" in line]
    return lines[-1].count("[") - 1 if lines else -1
