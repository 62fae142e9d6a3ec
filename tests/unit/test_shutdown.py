"""Workers stop on SIGTERM and SIGINT through one handler."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator

import pytest

from workers.shutdown import stop_event_on_signals, stop_on_signals


@pytest.fixture
def restored_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("restored_handlers")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_calls_stop_and_says_what_the_worker_does(
    signum: signal.Signals, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    stop_on_signals(lambda: calls.append("stop"), "stopping fetch, draining")
    with caplog.at_level(logging.INFO, logger="workers.shutdown"):
        signal.raise_signal(signum)
    assert calls == ["stop"]
    assert caplog.messages == [f"signal {signum.name}: stopping fetch, draining"]


@pytest.mark.usefixtures("restored_handlers")
def test_the_threaded_workers_stop_event_is_set_by_sigterm() -> None:
    stop = stop_event_on_signals()
    assert not stop.is_set()
    signal.raise_signal(signal.SIGTERM)
    assert stop.is_set()
