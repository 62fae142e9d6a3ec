"""Faults in the real servers: restart or freeze PostgreSQL, restart the Kafka broker.

The servers are the ones scripts/services.sh manages for the current environment
(FINSENT_STATE_DIR, FINSENT_PG_PORT, FINSENT_KAFKA_PORT), and they come back through that
script, so a chaos run ends with the servers as the other tiers expect them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import SERVICES_SCRIPT, Servers, kafka_answers, postgres_answers

RESTART_TIMEOUT_S = 180


class FaultError(RuntimeError):
    """A fault could not be injected or the server did not come back."""


@dataclass(frozen=True)
class Postmaster:
    pid: int
    data_dir: str
    bin_dir: str


def state_dir() -> Path:
    cache = os.environ.get("FINSENT_CACHE_DIR") or str(Path.home() / ".cache" / "finsent")
    return Path(os.environ.get("FINSENT_STATE_DIR") or Path(cache) / "state")


def find_postmaster(port: int) -> Postmaster:
    """The postmaster serving `port`, found by its command line (`postgres -D DIR -p PORT`)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            exe = os.readlink(entry / "exe")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if not exe.endswith("/postgres") or "-D" not in words or "-p" not in words:
            continue
        if words[words.index("-p") + 1] == str(port):
            return Postmaster(int(entry.name), words[words.index("-D") + 1], str(Path(exe).parent))
    raise FaultError(f"no postmaster found for port {port}")


def _as_postgres(command: list[str]) -> list[str]:
    # Postgres refuses to run as root; services.sh acts as the postgres user then, so do we.
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def services_up() -> None:
    """Start whatever of Kafka/PostgreSQL is down, the project's way."""
    done = subprocess.run(
        ["bash", str(SERVICES_SCRIPT), "up"],
        capture_output=True,
        text=True,
        timeout=RESTART_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise FaultError(f"services.sh up exited {done.returncode}: {done.stderr[-2000:]}")


def wait_until(what: str, check: Callable[[], bool], timeout: float = RESTART_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise FaultError(f"timed out waiting for {what}")


def restart_postgres(servers: Servers, port: int) -> float:
    """Stop PostgreSQL (fast shutdown: every session is cut) and start it again; seconds down."""
    postmaster = find_postmaster(port)
    started = time.monotonic()
    stop = [f"{postmaster.bin_dir}/pg_ctl", "-D", postmaster.data_dir, "-m", "fast", "-w", "stop"]
    subprocess.run(_as_postgres(stop), cwd="/", capture_output=True, check=True, timeout=90)
    services_up()
    wait_until("postgres", lambda: postgres_answers(servers.admin_pg_url))
    return time.monotonic() - started


@contextmanager
def frozen_postgres(port: int) -> Iterator[int]:
    """SIGSTOP the postmaster and every backend (a hung database), SIGCONT on exit."""
    postmaster = find_postmaster(port)
    pids = [postmaster.pid, *_children(postmaster.pid)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield len(pids)
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                continue


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces; the parent pid is the 2nd field after its ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def kafka_pid() -> int:
    pid_file = state_dir() / "kafka.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError) as e:
        raise FaultError(f"no running broker recorded in {pid_file}") from e
    if b"kafka.Kafka" not in cmdline:
        raise FaultError(f"pid {pid} in {pid_file} is not the broker")
    return pid


def restart_kafka(servers: Servers) -> float:
    """Stop the broker (SIGTERM, a controlled shutdown) and start it again; seconds down."""
    pid = kafka_pid()
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    wait_until("the broker to exit", lambda: not Path(f"/proc/{pid}").exists(), 60)
    services_up()
    wait_until("kafka", lambda: kafka_answers(servers.kafka_bootstrap))
    return time.monotonic() - started
