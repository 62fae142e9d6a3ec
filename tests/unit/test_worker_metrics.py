"""Each worker process exports the metrics it computes, and no others, on FINSENT_METRICS_HOST."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipeline.storage.migrate import upgrade
from tests.hostile import ROOT

SCHEDULER = ("finsent_scheduler_leader", "finsent_scheduler_steps_total")
NOTIFIER = ("finsent_webhook_backlog", "finsent_webhook_oldest_due_seconds")
CLASSIFIER = ("finsent_classifier_", "finsent_api_")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(port: int, process: subprocess.Popen[str], timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as page:
                return str(page.read().decode())
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the worker never served /metrics")


@pytest.mark.parametrize(
    ("worker", "owns", "not_owned"),
    [
        pytest.param("schedule", SCHEDULER, NOTIFIER + CLASSIFIER, id="scheduler"),
        pytest.param("notify", NOTIFIER, SCHEDULER + CLASSIFIER, id="notifier"),
    ],
)
def test_a_worker_exports_only_its_own_metrics(
    worker: str, owns: tuple[str, ...], not_owned: tuple[str, ...], tmp_path: Path
) -> None:
    upgrade(f"sqlite:///{tmp_path / 'finsent.db'}")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")} | {
        "PYTHONPATH": str(ROOT),
        "FINSENT_CACHE_DIR": str(tmp_path / "cache"),
        "FINSENT_METRICS_PORT": str(port),
        "FINSENT_METRICS_HOST": "127.0.0.1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "workers.cli", "worker", worker],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        page = _scrape(port, process)
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)
    exported = {line.split(" ")[0].split("{")[0] for line in page.splitlines() if line[:1] != "#"}
    for name in owns:
        assert any(n.startswith(name) for n in exported), (name, sorted(exported))
    for prefix in not_owned:
        assert not [n for n in exported if n.startswith(prefix)], prefix
