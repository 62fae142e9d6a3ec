"""finsent's long-running processes as subprocesses: started, sampled, killed, restarted."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

REPO = Path(__file__).resolve().parents[2]
_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$")

# `finsent worker <kind>`; through main() because `python -m workers.cli` imports the CLI
# module twice (as __main__ and as workers.cli), which its feature modules do not survive.
_CLI = ["-c", "from workers.cli import main; main()", "worker"]
COMMANDS: dict[str, list[str]] = {
    kind: [*_CLI, kind] for kind in ("classify", "schedule", "notify")
}
# The same classifier with test faults in its chain, named by the Service's `faults`.
COMMANDS["faulty-classify"] = ["-m", "tests.faulty_worker"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """Prometheus samples by `name{labels}`; empty while nothing answers on `port`."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            samples[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return samples


def process_env(settings: dict[str, str], **extra: str) -> dict[str, str]:
    """This environment minus any FINSENT_ variable, plus `settings` (names without the prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    cache = os.environ.get("FINSENT_CACHE_DIR", str(Path.home() / ".cache" / "finsent"))
    env.update({"FINSENT_CACHE_DIR": cache, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"})
    env.update({f"FINSENT_{k}": v for k, v in settings.items()})
    env.update(extra)
    return env


def worker_settings(bootstrap: str, prefix: str, db_url: str, bundle: Path) -> dict[str, str]:
    """A classifier worker on the topics `<prefix>.raw|dlq|scored` and group `<prefix>-c`."""
    return {
        "KAFKA__BOOTSTRAP": bootstrap,
        "KAFKA__RAW_TOPIC": f"{prefix}.raw",
        "KAFKA__DLQ_TOPIC": f"{prefix}.dlq",
        "KAFKA__SCORED_TOPIC": f"{prefix}.scored",
        "KAFKA__GROUP": f"{prefix}-classifier",
        "KAFKA__SESSION_TIMEOUT_MS": "6000",
        "KAFKA__HEARTBEAT_INTERVAL_MS": "1500",
        "DATABASE__URL": db_url,
        "DATABASE__POOL_SIZE": "3",
        "MODEL__BUNDLE": str(bundle),
        "MODEL__INTRA_OP_THREADS": "1",
        "BATCHING__MAX_BATCH_SIZE": "32",
        "CLASSIFIER__REVOKE_TIMEOUT_S": "3",
        "CLASSIFIER__RETRY_BACKOFF_MAX_S": "1",
    }


@dataclass
class Service:
    """One worker process; `start` again after a kill to restart it with the same settings."""

    name: str
    kind: str
    env: dict[str, str]
    log_path: Path
    faults: tuple[str, ...] = ()  # tests/faulty_worker.py's arguments, for "faulty-classify"
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self._log.write(f"\n==== start {self.starts + 1} of {self.name}\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [sys.executable, *COMMANDS[self.kind], *self.faults],
            cwd=REPO,
            env={**self.env, "FINSENT_METRICS_PORT": str(self.port)},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def metrics(self) -> dict[str, float]:
        return scrape(self.port) if self.alive else {}

    def metric(self, name: str) -> float:
        return self.metrics().get(name, 0.0)

    def wait_ready(self, ready: Callable[[dict[str, float]], bool], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited while starting:\n{self.log_tail()}")
            if ready(self.metrics()):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready within {timeout}s:\n{self.log_tail()}")

    def kill9(self) -> None:
        if self.proc is not None and self.alive:
            os.kill(self.proc.pid, signal.SIGKILL)
        self._reap(10)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM (drain and exit 0), SIGKILL after `timeout`; returns the exit status."""
        if self.proc is None:
            return None
        if self.alive:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self._reap(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return self.proc.returncode

    def _reap(self, timeout: float) -> int | None:
        code = self.proc.wait(timeout) if self.proc is not None else None
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]
