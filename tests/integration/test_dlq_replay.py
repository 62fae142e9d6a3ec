"""Issue 10 acceptance on the real Kafka and Postgres: `dlq replay` run twice sends each
letter once; a bounced replay keeps its original coordinates; a BOM letter is fixable."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.worker_harness import (
    CLI,
    REPO,
    T0,
    Stack,
    Worker,
    db_scalar,
    group_lag,
    news,
    produce,
    read_topic,
    stored_ids,
)


def finsent(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CLI, *args],
        cwd=REPO,
        env=stack.env(COLUMNS="250"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def settle(stack: Stack, worker: Worker, check: Callable[[], bool]) -> None:
    worker.wait_for("caught up", lambda: group_lag(stack) == 0 and check(), timeout=60)


def test_dlq_replay_twice_sends_each_letter_once(stack: Stack, tmp_path: Path) -> None:
    no_source = json.dumps({"id": "ns", "published_at": T0.isoformat(), "headline": "h"})
    records = [
        (b"g1", news("g1", "Acme shares rise")),
        (b"ns", no_source.encode()),
        (b"bom", b"\xef\xbb\xbf" + news("bom", "Acme BOM rises")),
        (
            b"dup",
            b'{"id": "d1", "id": "d2", "source": "w", "published_at": "2026-01-01T00:00:00Z"}',
        ),
    ]
    produce(stack.bootstrap, stack.raw, records)
    worker = Worker(stack, tmp_path / "worker.log")
    try:
        settle(stack, worker, lambda: len(read_topic(stack.bootstrap, stack.dlq)) == 3)
        first = finsent(stack, "dlq", "replay", "--since", "10m")
        assert "replayed 2 dead letters" in first, first
        assert "--strip-bom" in first, "the BOM letter is shown as not replayable as it is"
        settle(stack, worker, lambda: len(read_topic(stack.bootstrap, stack.dlq)) == 5)

        second = finsent(stack, "dlq", "replay", "--since", "10m")
        assert "replayed 0 dead letters" in second, second
        time.sleep(2)
        settle(stack, worker, lambda: True)
        letters = read_topic(stack.bootstrap, stack.dlq)
        assert len(letters) == 5, "the second run sent nothing"

        headers = [{k: v.decode() for k, v in r.headers} for r in letters]
        bounces = [h for h in headers if "finsent.replay_of" in h]
        firsts = {h["finsent.sha256"]: h for h in headers if "finsent.replay_of" not in h}
        assert len(bounces) == 2
        for bounce in bounces:
            first_letter = firsts[bounce["finsent.sha256"]]
            for field in ("original_topic", "original_partition", "original_offset"):
                assert bounce[f"finsent.{field}"] == first_letter[f"finsent.{field}"]
        assert {b["finsent.kind"] for b in bounces} == {"missing_field", "duplicate_key"}

        bom = next(r for r in letters if (r.value or b"").startswith(b"\xef\xbb\xbf"))
        fixed = finsent(
            stack,
            "dlq",
            "replay",
            "--since",
            "10m",
            "--at",
            f"{bom.partition}:{bom.offset}",
            "--strip-bom",
        )
        assert "replayed 1 dead letters" in fixed, fixed
        settle(stack, worker, lambda: "bom" in stored_ids(stack.db_url))
        assert stored_ids(stack.db_url) == {"g1", "bom"}
        assert db_scalar(stack.db_url, "SELECT count(*) FROM dlq_replays") == 3
        listed = finsent(stack, "dlq", "list", "--since", "10m")
        assert "replayed 1x" in listed
        assert "bounced replay of" in listed
        assert worker.terminate() == 0
    finally:
        worker.stop_quietly()
