"""A throwaway PostgreSQL cluster (pg_ctl, like scripts/services.sh) that a test may stop.

Stopping the shared server would break other tests running at the same time, so the
outage test gets its own cluster on a free port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.integration.worker_harness import free_port


def _bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql")
    return found[-1].parent


class PrivatePostgres:
    def __init__(self) -> None:
        self.port = free_port()
        self.bin = _bin()
        self.data = Path(tempfile.mkdtemp(prefix="finsent-pg-", dir="/tmp"))
        as_root = os.geteuid() == 0
        self._as = ["runuser", "-u", "postgres", "--"] if as_root else []
        if as_root:
            shutil.chown(self.data, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        with psycopg.connect(self._libpq("postgres"), autocommit=True) as conn:
            conn.execute("CREATE DATABASE finsent")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/finsent"

    def _libpq(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self._as, str(self.bin / tool), *args],
            cwd="/",
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.data / "server.log"),
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def answers(self) -> bool:
        try:
            with psycopg.connect(self._libpq("finsent"), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def destroy(self) -> None:
        try:
            if self.answers():
                self.stop()
        finally:
            shutil.rmtree(self.data, ignore_errors=True)


def wait_until(check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False
