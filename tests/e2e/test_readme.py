"""The README's production block, run line by line as written, on the real Kafka and Postgres.

The block is what a user types, so the test runs its lines through bash unchanged. Its
`export` lines honour variables already set (`${VAR:-default}`), which lets the test point
them at a fresh database; topics and the consumer group are not named in the block, so
their settings isolate the run from other tests. A line ending in `&` runs in the
background in its own process group; `finsent api` is probed and stopped.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from sqlalchemy import create_engine, func, select, text

from pipeline.settings import setting_env_names
from pipeline.storage.migrate import current_head
from pipeline.storage.tables import ClassificationRow, NewsItem
from schemas import EventRejected, decode_news_event
from tests.servers import (
    REPO_ROOT,
    Servers,
    create_database,
    database_url,
    delete_topics_with_prefix,
    drop_database,
    require_servers,
    topic_prefix,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

README = REPO_ROOT / "README.md"
BEGIN, END = "<!-- readme-production:begin -->", "<!-- readme-production:end -->"
COMMENT = re.compile(r"\s+#.*$")
URL_HOST = re.compile(r"://(?:[^@/\s]*@)?([^:/\s}]+)")
LINE_TIMEOUT_S = 300
STORED_TIMEOUT_S = 600
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 45


def production_lines(readme: str) -> list[str]:
    """The commands of the README's production block, comments and fences removed."""
    start, end = readme.index(BEGIN), readme.index(END)
    lines = readme[start + len(BEGIN) : end].strip().splitlines()
    assert lines[0] == "```bash", "the block opens with a ```bash fence"
    assert lines[-1] == "```", "the block is one fence"
    return [COMMENT.sub("", line).strip() for line in lines[1:-1] if line.strip()]


def expected_items(stream: Path) -> int:
    """How many distinct valid events the file holds: what the classifier must store."""
    ids = set()
    for line in stream.read_bytes().splitlines():
        try:
            ids.add(decode_news_event(line, 1 << 20).id)
        except EventRejected:
            continue
    return len(ids)


def finsent_on_path(tmp: Path) -> str:
    """A PATH entry whose `finsent` runs this checkout's code: the venv's own script when it
    imports from here (CI), else a shim running `python -m workers.cli`."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    venv_bin = Path(sys.executable).parent
    probe = "import workers.cli, sys; sys.stdout.write(workers.cli.__file__)"
    if (venv_bin / "finsent").is_file():
        done = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False
        )
        if done.stdout.startswith(str(REPO_ROOT)):
            return str(venv_bin)
    shim = tmp / "bin"
    shim.mkdir()
    (shim / "finsent").write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -m workers.cli "$@"\n', encoding="utf-8"
    )
    (shim / "finsent").chmod(0o755)
    return str(shim)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_taken(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Shell:
    """The user's terminal: an environment that `export` lines change, and background jobs."""

    env: dict[str, str]
    logs: Path
    jobs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        """A foreground line through bash; its exports carry over to the next lines."""
        env_file = self.logs / "env"
        script = f'{line}\n__rc=$?\nenv -0 > "{env_file}"\nexit $__rc\n'
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=LINE_TIMEOUT_S,
            check=False,
        )
        if env_file.exists():
            pairs = env_file.read_text().split("\0")
            self.env = dict(p.split("=", 1) for p in pairs if "=" in p)
            env_file.unlink()
        return done

    def start(self, line: str) -> subprocess.Popen[bytes]:
        """A line run in the background (its `&` removed), in its own process group."""
        name = f"{len(self.jobs)}-{re.sub(r'[^a-z]+', '-', line.lower()).strip('-')[:40]}"
        with (self.logs / f"{name}.log").open("wb") as log:
            job = subprocess.Popen(
                ["bash", "-c", line],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.jobs[name] = job
        return job

    def forget(self, job: subprocess.Popen[bytes]) -> str:
        """No longer a background job (a foreground line the test ended); its name."""
        name = next(n for n, j in self.jobs.items() if j is job)
        del self.jobs[name]
        return name

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self, job: subprocess.Popen[bytes], how: signal.Signals = signal.SIGTERM) -> int:
        """A signal to the job's process group (kill, or Ctrl-C); its exit code."""
        if job.poll() is None:
            os.killpg(job.pid, how)
        try:
            return job.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
            return -signal.SIGKILL

    def stop_all(self) -> dict[str, int]:
        return {name: self.stop(job) for name, job in self.jobs.items()}

    def tails(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)[-2500:]}" for name in self.jobs)


@dataclass(frozen=True)
class Isolation:
    """Names private to this run, so it shares nothing with other tests."""

    database_url: str
    prefix: str

    def env(self, servers: Servers) -> dict[str, str]:
        return {
            "FINSENT_KAFKA__BOOTSTRAP": servers.kafka_bootstrap,
            "FINSENT_DATABASE__URL": self.database_url,
            "FINSENT_KAFKA__RAW_TOPIC": f"{self.prefix}-raw",
            "FINSENT_KAFKA__DLQ_TOPIC": f"{self.prefix}-dlq",
            "FINSENT_KAFKA__SCORED_TOPIC": f"{self.prefix}-scored",
            "FINSENT_KAFKA__GROUP": f"{self.prefix}-classifier",
        }


@pytest.fixture
def isolation(request: pytest.FixtureRequest) -> Iterator[tuple[Servers, Isolation]]:
    servers = require_servers()
    name = create_database(servers.admin_pg_url)
    prefix = topic_prefix(request.node.name)
    try:
        yield servers, Isolation(database_url(servers.admin_pg_url, name), prefix)
    finally:
        drop_database(servers.admin_pg_url, name)
        delete_topics_with_prefix(servers.kafka_bootstrap, prefix)
        admin = KafkaAdminClient(bootstrap_servers=servers.kafka_bootstrap)
        try:
            # Cleanup only: a group that never committed is not there to delete.
            with contextlib.suppress(KafkaError):
                admin.delete_consumer_groups([f"{prefix}-classifier"])
        finally:
            admin.close()


def wait_until_stored(url: str, expected: int, shell: Shell) -> int:
    """Rows in news_items once they reach `expected` (or the timeout, or a dead worker)."""
    engine = create_engine(url)
    deadline = time.monotonic() + STORED_TIMEOUT_S
    stored = 0
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                stored = conn.scalar(select(func.count()).select_from(NewsItem)) or 0
            dead = [n for n, job in shell.jobs.items() if job.poll() is not None]
            if stored >= expected or dead:
                break
            time.sleep(2)
    finally:
        engine.dispose()
    return stored


def wait_ready(port: int, job: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and job.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as answer:
                return int(answer.status)
        except OSError:
            time.sleep(1)
    return 0


def block_environment(
    servers: Servers, private: Isolation, tmp: Path, api_port: int
) -> dict[str, str]:
    """The user's environment minus their finsent settings, plus the run's private names."""
    settings = setting_env_names() - {"FINSENT_CACHE_DIR"}  # services.sh's variables stay
    env = {k: v for k, v in os.environ.items() if k not in settings}
    return (
        env
        | private.env(servers)
        | {
            "PATH": finsent_on_path(tmp) + os.pathsep + env.get("PATH", ""),
            "PYTHONPATH": str(REPO_ROOT),
            "FINSENT_API__PORT": str(api_port),  # the README's :8000 is the default it names
            "COLUMNS": "160",
        }
    )


def run_block(shell: Shell, lines: list[str], api_port: int, database_url: str) -> dict[str, str]:
    """Each line as the user would run it; the output of each foreground line, by line."""
    outputs: dict[str, str] = {}
    for line in lines:
        if line.endswith("&"):
            shell.start(line.removesuffix("&").strip())
        elif line == "finsent api":
            api = shell.start(line)
            assert wait_ready(api_port, api) == 200, shell.tails()
            assert shell.stop(api, signal.SIGINT) == 0, shell.tails()  # Ctrl-C
            outputs[line] = shell.log(shell.forget(api))
        else:
            done = shell.run(line)
            outputs[line] = done.stdout + done.stderr
            (shell.logs / f"line-{len(outputs)}.out").write_text(f"$ {line}\n{outputs[line]}")
            assert done.returncode == 0, f"`{line}` exited {done.returncode}:\n{outputs[line]}"
        if line.startswith("finsent replay "):
            expected = expected_items(REPO_ROOT / line.split()[2])
            stored = wait_until_stored(database_url, expected, shell)
            assert stored == expected, f"stored {stored} of {expected}\n{shell.tails()}"
    died = [n for n, job in shell.jobs.items() if job.poll() is not None]
    assert not died, f"background workers died: {died}\n{shell.tails()}"
    return outputs


def test_production_block_runs_as_written(
    isolation: tuple[Servers, Isolation], tmp_path: Path
) -> None:
    servers, private = isolation
    lines = production_lines(README.read_text(encoding="utf-8"))
    busy = [port for port in (9108, 9109, 9110) if port_taken(port)]
    assert not busy, f"the README's /metrics ports are taken by another process: {busy}"
    api_port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    shell = Shell(block_environment(servers, private, tmp_path, api_port), logs)
    try:
        outputs = run_block(shell, lines, api_port, private.database_url)
    finally:
        codes = shell.stop_all()
    assert all(code == 0 for code in codes.values()), f"{codes}\n{shell.tails()}"
    assert "dashboard: http://127.0.0.1:" in outputs["finsent api"]
    check_outcomes(private, servers, outputs, shell)


def check_outcomes(
    private: Isolation, servers: Servers, outputs: dict[str, str], shell: Shell
) -> None:
    engine = create_engine(private.database_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == current_head()
            items = conn.scalar(select(func.count()).select_from(NewsItem))
            scored = conn.scalar(select(func.count()).select_from(ClassificationRow))
        assert scored == items, "every stored item has its classification"
    finally:
        engine.dispose()
    admin = KafkaAdminClient(bootstrap_servers=servers.kafka_bootstrap)
    try:
        topics = set(admin.list_topics())
    finally:
        admin.close()
    assert {f"{private.prefix}-raw", f"{private.prefix}-dlq"} <= topics
    classify = next(name for name in shell.jobs if "classify" in name)
    served = re.search(r"loaded on (\S+) \((\w+)\)", shell.log(classify))
    assert served, shell.log(classify)
    assert served[2] == ("int8" if served[1] == "cpu" else "fp16"), "README: int8 CPU, fp16 GPU"
    report = next(out for line, out in outputs.items() if line.startswith("finsent report"))
    assert "ticker:NVLT 2026-03-09 00:00 → 2026-03-11 00:00" in report, report[:500]
    hours = re.findall(r"^│ 2026-03-(?:09|10) \d\d:00 │", report, flags=re.MULTILINE)
    assert len(hours) == 48, f"two days of hourly rows for the replayed range:\n{report}"
    backtest = next(out for line, out in outputs.items() if line.startswith("finsent backtest"))
    assert re.search(r"2026-03-10\s+ticker:NVLT", backtest), backtest[-3000:]


def test_readme_block_names_only_the_clone_and_loopback() -> None:
    lines = production_lines(README.read_text(encoding="utf-8"))
    assert any(line.startswith("finsent replay ") for line in lines)
    assert not [line for line in lines if "../" in line], "a user's clone has no ../"
    hosts = {h for line in lines for h in URL_HOST.findall(line)}
    assert hosts <= {"127.0.0.1", "localhost"}, f"outside addresses in the block: {hosts}"
