"""Issue 10 acceptance on the real Kafka and Postgres: a record that kills the worker at a
fixed offset is found within three restarts and dead-lettered as `poison`; without the crash
counter the same worker crash-loops (negative control)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaProducer

from tests.integration.worker_harness import (
    Stack,
    Worker,
    db_scalar,
    group_lag,
    news,
    read_topic,
    stored_ids,
)

PILL = "poison-pill-7f3a"
POISON_AT = 8  # offset of the pill in partition 0
PER_PARTITION = {0: 20, 1: 10}


@dataclass
class Supervisor:
    """Restarts the worker whenever it dies, like systemd or Kubernetes would."""

    stack: Stack
    logs: Path
    faults: tuple[str, ...]
    env: dict[str, str]
    lives: list[Worker]

    def run_until_caught_up(self, max_restarts: int, timeout: float = 150) -> int:
        """Restarts needed until the group's lag is 0; max_restarts + 1 if it never got there."""
        deadline = time.monotonic() + timeout
        while len(self.lives) <= max_restarts + 1 and time.monotonic() < deadline:
            log = self.logs / f"life-{len(self.lives)}.log"
            worker = Worker(self.stack, log, self.faults, **self.env)
            self.lives.append(worker)
            while worker.proc.poll() is None and time.monotonic() < deadline:
                if group_lag(self.stack) == 0:
                    return len(self.lives) - 1
                time.sleep(0.5)
        return max_restarts + 1


@pytest.fixture
def supervisor(stack: Stack, tmp_path: Path) -> Iterator[Supervisor]:
    made = Supervisor(stack, tmp_path, ("--kill-on-text", PILL), {}, [])
    yield made
    for worker in made.lives:
        worker.stop_quietly()


def produce_with_pill(stack: Stack) -> set[str]:
    """Events to fixed partitions, the pill at partition 0, offset POISON_AT; the good ids."""
    producer = KafkaProducer(bootstrap_servers=stack.bootstrap, acks="all")
    good = set()
    for partition, count in PER_PARTITION.items():
        for offset in range(count):
            ident = f"p{partition}-{offset}"
            pill = partition == 0 and offset == POISON_AT
            headline = f"Widget maker {PILL} recall" if pill else f"Acme {ident} shares rise"
            sent = producer.send(stack.raw, value=news(ident, headline), partition=partition)
            assert sent.get(timeout=10).offset == offset
            if not pill:
                good.add(ident)
    producer.close()
    return good


def test_a_record_that_kills_the_worker_is_dead_lettered_as_poison(
    stack: Stack, supervisor: Supervisor
) -> None:
    good = produce_with_pill(stack)
    restarts = supervisor.run_until_caught_up(max_restarts=3)

    assert 1 <= restarts <= 3, supervisor.lives[-1].log()[-3000:]
    assert "one record at a time" in "".join(w.log() for w in supervisor.lives)
    assert [w.proc.returncode for w in supervisor.lives[:-1]] == [-9] * restarts
    letters = read_topic(stack.bootstrap, stack.dlq)
    assert len(letters) == 1, [dict(r.headers) for r in letters]
    headers = {k: v.decode() for k, v in letters[0].headers}
    assert headers["finsent.kind"] == "poison"
    assert (headers["finsent.original_partition"], headers["finsent.original_offset"]) == (
        "0",
        str(POISON_AT),
    )
    assert "killed the worker" in headers["finsent.reason"]
    assert PILL.encode() in letters[0].value
    assert stored_ids(stack.db_url) == good
    assert db_scalar(stack.db_url, "SELECT count(*) FROM classifications") == len(good)
    assert db_scalar(stack.db_url, "SELECT count(*) FROM consumer_crash_marks") == 0


def test_negative_control_without_the_crash_counter_it_crash_loops(
    stack: Stack, supervisor: Supervisor
) -> None:
    supervisor.env["FINSENT_CLASSIFIER__POISON_CRASHES"] = "0"
    good = produce_with_pill(stack)
    restarts = supervisor.run_until_caught_up(max_restarts=4)

    assert restarts > 4, "the pill did not kill the worker: the test could not see a fix"
    assert all(w.proc.returncode == -9 for w in supervisor.lives)
    assert read_topic(stack.bootstrap, stack.dlq) == []
    assert group_lag(stack) > 0
    assert stored_ids(stack.db_url) < good
