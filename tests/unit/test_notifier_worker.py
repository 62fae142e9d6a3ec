"""The notifier process keeps serving while the database is away, and says so in one line."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from pipeline.settings import Settings
from workers.notifier import run_notifier


def test_database_away_is_one_warning_line_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Nothing listens on port 1: every poll fails to connect.
    settings = Settings(
        database={"url": "postgresql+psycopg://finsent:pw-4711@127.0.0.1:1/finsent"},
        webhooks={"poll_interval_s": 0.05},
    )
    stop = threading.Event()
    worker = threading.Thread(target=run_notifier, args=(settings, stop))
    with caplog.at_level(logging.WARNING, logger="workers.notifier"):
        worker.start()
        deadline = time.monotonic() + 10
        while len(caplog.records) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        worker.join(10)
    assert not worker.is_alive(), "the notifier stops when asked, database or not"
    failures = [r for r in caplog.records if r.name == "workers.notifier"]
    assert len(failures) >= 2, "each failed poll is reported, and the notifier keeps polling"
    assert all("database unavailable" in r.getMessage() for r in failures)
    assert all(r.exc_info is None for r in failures), "no traceback for a known outage"
    assert "pw-4711" not in caplog.text
