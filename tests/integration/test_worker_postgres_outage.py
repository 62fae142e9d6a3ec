"""Postgres stopped for 20 s mid-stream: the worker pauses, stays in its group, loses nothing."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.model.bundle import ModelBundle
from pipeline.storage.migrate import upgrade
from tests.integration.private_postgres import PrivatePostgres
from tests.integration.worker_harness import (
    Stack,
    Worker,
    db_scalar,
    group_lag,
    produce_events,
    stored_ids,
    stream_of,
)

OUTAGE_S = 20


@pytest.fixture
def private_pg() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    yield server
    server.destroy()


def test_postgres_down_20s_pauses_then_resumes_without_loss(
    kafka_bootstrap: str,
    unique_topic_prefix: str,
    test_bundle: ModelBundle,
    private_pg: PrivatePostgres,
    tmp_path: Path,
) -> None:
    upgrade(private_pg.url)
    stack = Stack(kafka_bootstrap, unique_topic_prefix, private_pg.url, test_bundle.path)
    stack.ensure_topics()
    events = stream_of(2000, reprints=100, tag="o")
    produce_events(stack, events)
    worker = Worker(stack, tmp_path / "worker.log")
    try:
        worker.wait_for("first commits", lambda: worker.committed() >= 100, timeout=60)
        private_pg.stop()
        stopped_at = time.monotonic()
        log_before_outage = len(worker.log())
        assert worker.committed() < len(events), "the outage must start mid-stream"
        worker.wait_for(
            "backpressure",
            lambda: (
                worker.metric("finsent_classifier_paused") == 1
                and worker.metric("finsent_classifier_write_failures_total") > 0
            ),
            timeout=OUTAGE_S,
        )
        during = worker.committed()
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))
        assert worker.proc.poll() is None
        assert worker.committed() == during, "nothing may be committed while rows cannot be"
        private_pg.start()

        worker.wait_for("lag 0", lambda: group_lag(stack) == 0, timeout=120)
        assert stored_ids(stack.db_url) == {ident for ident, _ in events}
        assert db_scalar(stack.db_url, "SELECT count(*) FROM classifications") == len(events)
        assert worker.metric("finsent_classifier_paused") == 0
        since_outage = worker.log()[log_before_outage:]
        # the first failure may be logged while the server is still stopping
        assert re.search(r"write failed: .*; retry \d+ in", worker.log()), "failed write logged"
        assert "revoked ['" not in since_outage, "the worker must keep its group membership"
        assert worker.terminate() == 0
    finally:
        worker.stop_quietly()
