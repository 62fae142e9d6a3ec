"""A few hundred hypothesis-generated messages through a real worker on the real Kafka:
each one stored or dead-lettered with a reason, none lost, the worker alive throughout."""

from __future__ import annotations

from pathlib import Path

from hypothesis import strategies as st

from pipeline.model.bundle import ModelBundle
from pipeline.storage.migrate import upgrade
from tests.fuzz_messages import generate, inbound_messages
from tests.fuzz_worker import run_fuzz_worker

CASES = 300


def test_fuzzed_messages_are_each_stored_or_dead_lettered(
    kafka_bootstrap: str,
    unique_topic_prefix: str,
    pg_url: str,
    test_bundle: ModelBundle,
    tmp_path: Path,
) -> None:
    upgrade(pg_url)
    values: list[bytes | None] = generate(inbound_messages | st.none(), CASES, seed_value=11)
    outcome = run_fuzz_worker(
        values,
        kafka_bootstrap,
        unique_topic_prefix,
        pg_url,
        test_bundle.path,
        tmp_path / "worker.log",
    )
    summary = f"{outcome}\nlog: {tmp_path / 'worker.log'}"

    assert outcome.cases == CASES
    assert outcome.expected_stored >= 20, "the fuzz mix must hold valid events too"
    assert outcome.expected_dead >= 20, "and invalid ones"
    assert outcome.worker_exits == 0, summary
    assert outcome.missing == [], summary
    assert outcome.stored == outcome.expected_stored, summary
    assert outcome.dead_lettered == outcome.expected_dead, summary
    assert outcome.wrongly_dead == outcome.wrongly_stored == 0, summary
    assert outcome.dlq_without_reason == 0, summary
