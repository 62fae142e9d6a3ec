"""The tests' chain faults (tests/chain_faults.py) on the real chain with fakes: each breaks
the guarantee it claims to break, at the point it claims, and the faulty worker's command
line picks them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine

from pipeline.consumer.commit import Committer
from pipeline.consumer.decode import RawRecord
from pipeline.consumer.factory import Chain
from pipeline.consumer.steps import Message, Partition, ProcessingStep
from tests import chain_faults
from tests.chain_faults import ChainFaults, CrashOnSubmit, EarlyCommit, KillOnText
from tests.faulty_worker import parse_faults
from tests.unit.stream_fakes import sqlite_memory_engine
from tests.unit.test_consumer_chain import FakeSink, feed, good, make_chain, message, stored_ids

P0 = Partition("news.raw", 0)


class KilledError(Exception):
    """Stands in for the SIGKILL, so the test sees the moment of the kill."""


@dataclass
class Witness:
    """What the store and the broker held at each offset commit and at the kill."""

    engine: Engine
    commits: list[dict[Partition, int]] = field(default_factory=list)
    stored_at_commit: list[int] = field(default_factory=list)
    kills: list[tuple[str, int]] = field(default_factory=list)

    def committed(self, offsets: Mapping[Partition, int]) -> None:
        self.commits.append(dict(offsets))
        self.stored_at_commit.append(len(stored_ids(self.engine)))

    def kill(self, why: str) -> None:
        self.kills.append((why, len(stored_ids(self.engine))))
        raise KilledError(why)


@pytest.fixture
def witness(monkeypatch: pytest.MonkeyPatch) -> Witness:
    seen = Witness(sqlite_memory_engine())
    monkeypatch.setattr(chain_faults, "kill_this_process", seen.kill)
    return seen


def run_until_killed(witness: Witness, faults: ChainFaults, headlines: list[str]) -> None:
    chain = make_chain(witness.engine, FakeSink(), witness.committed, wrap=faults)
    records = [message(P0, o, good(f"f{o}", text)) for o, text in enumerate(headlines)]
    try:
        for record in records:
            feed_one(chain, record)
    except KilledError:
        chain.terminate()
        return
    chain.terminate()


def feed_one(chain: Chain, record: Message[RawRecord]) -> None:
    """One record per batch: submit, then join so its batch reaches the commit step."""
    chain.submit(record)
    chain.join(5.0)


def test_early_commit_commits_offsets_before_the_rows_exist(witness: Witness) -> None:
    chain = make_chain(witness.engine, FakeSink(), witness.committed, wrap=ChainFaults(True))
    feed(chain, [message(P0, 0, good("a"))])

    assert witness.commits[0] == {P0: 1}
    assert witness.stored_at_commit[0] == 0, "offsets went out before the row"
    assert stored_ids(witness.engine) == {"a"}


def test_crash_at_kills_between_the_row_and_the_offset_commit(witness: Witness) -> None:
    run_until_killed(witness, ChainFaults(crash_at=2), [f"story {o}" for o in range(4)])

    assert witness.kills == [("test crash point reached (rows committed, offsets not yet)", 2)]
    assert witness.commits == [{P0: 1}], "the second batch's offsets were never committed"


def test_offsets_first_with_crash_at_kills_after_the_offsets_before_the_rows(
    witness: Witness,
) -> None:
    faults = ChainFaults(offsets_first=True, crash_at=2)
    run_until_killed(witness, faults, [f"story {o}" for o in range(4)])

    assert witness.kills == [("test crash point reached (offsets committed, rows not yet)", 1)]
    assert witness.commits[-1] == {P0: 2}, "offset 1 committed, its row never stored"


def test_kill_on_text_kills_before_the_batch_holding_it_is_inferred(witness: Witness) -> None:
    run_until_killed(witness, ChainFaults(kill_on_text="pill"), ["fine", "a pill here", "fine"])

    assert witness.kills == [("test fault: a headline holds 'pill'", 1)]
    assert stored_ids(witness.engine) == {"f0"}


class Step(ProcessingStep[object]):
    def submit(self, message: Message[object]) -> None: ...
    def poll(self) -> None: ...
    def join(self, timeout: float | None = None) -> None: ...
    def close(self) -> None: ...
    def terminate(self) -> None: ...


NAMES = ("decode", "dead_letters", "batch", "infer", "store", "commit", "poison_guard")


@pytest.mark.parametrize(
    ("faults", "wrapped"),
    [
        pytest.param(ChainFaults(), {}, id="no faults: every step as built"),
        pytest.param(ChainFaults(offsets_first=True), {"store": EarlyCommit}, id="early commit"),
        pytest.param(ChainFaults(crash_at=3), {"commit": CrashOnSubmit}, id="crash at commit"),
        pytest.param(
            ChainFaults(offsets_first=True, crash_at=3),
            {"store": EarlyCommit},
            id="early commit crashes itself",
        ),
        pytest.param(ChainFaults(kill_on_text="x"), {"infer": KillOnText}, id="kill on text"),
    ],
)
def test_faults_wrap_only_the_steps_they_break(
    faults: ChainFaults, wrapped: dict[str, type]
) -> None:
    built = {name: type(faults(name, Step(), Committer())) for name in NAMES}
    assert built == {name: wrapped.get(name, Step) for name in NAMES}


@pytest.mark.parametrize(
    ("argv", "faults"),
    [
        pytest.param([], ChainFaults(), id="none"),
        pytest.param(
            ["--offsets-first", "--crash-at", "3"],
            ChainFaults(offsets_first=True, crash_at=3),
            id="the negative control",
        ),
        pytest.param(["--kill-on-text", "pill"], ChainFaults(kill_on_text="pill"), id="pill"),
    ],
)
def test_the_faulty_worker_takes_its_faults_from_its_command_line(
    argv: list[str], faults: ChainFaults
) -> None:
    assert parse_faults(argv) == faults


def test_the_faulty_worker_refuses_a_crash_that_never_comes() -> None:
    with pytest.raises(SystemExit):
        parse_faults(["--crash-at", "0"])
