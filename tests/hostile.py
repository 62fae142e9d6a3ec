"""Run the real `finsent` CLI in a hostile environment and read what a user would see."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECRET = "Hostile-S3cret-7f2c"  # planted in every password, token and URL of a case
EX_USAGE, EX_UNAVAILABLE = 2, 69
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: a refused connection, at once
MAX_LINES = 3  # "one line", with room for a command's own heading before it fails


@dataclass(frozen=True)
class Hostile:
    """One hostile configuration: the command, its environment, and what the user must see."""

    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    exit_code: int = EX_USAGE
    says: tuple[str, ...] = ()  # each must appear in the output (what failed, what to do)


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr

    @property
    def lines(self) -> list[str]:
        return [line for line in self.text.splitlines() if line.strip()]


def run_finsent(case: Hostile, cwd: Path, timeout_s: float = 60) -> Outcome:
    """`python -m workers.cli ARGS` in `cwd` with only the case's FINSENT_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    env |= {
        "PYTHONPATH": str(ROOT),
        "FINSENT_CACHE_DIR": str(cwd / "cache"),
        "COLUMNS": "80",  # a narrow terminal: a long line must not be wrapped into several
        **case.env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "workers.cli", *case.args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def assert_one_line_failure(case: Hostile, outcome: Outcome) -> None:
    """The exit code, a short output naming what failed, no traceback, no secret anywhere."""
    assert SECRET not in outcome.text, outcome.text
    assert "Traceback" not in outcome.text, outcome.text
    assert outcome.exit_code == case.exit_code, outcome.text
    assert 1 <= len(outcome.lines) <= MAX_LINES, outcome.text
    error = outcome.lines[-1]
    assert error.startswith("error: "), outcome.text
    for words in case.says:
        assert words in error, error
