"""How a worker process learns to stop: SIGTERM or SIGINT (DESIGN §3: stop fetching, finish
the batch, commit, exit 0). Every worker installs its handlers here."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)


def stop_on_signals(stop: Callable[[], None], action: str = "stopping") -> None:
    """Call `stop` on SIGTERM or SIGINT; `action` says in the log what the worker does next.
    `stop` runs inside the signal handler, so it must only flag (Event.set, a flag write)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: %s", signal.Signals(signum).name, action)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def stop_event_on_signals() -> threading.Event:
    """An event that SIGTERM or SIGINT sets: how the threaded workers learn to stop."""
    stop = threading.Event()
    stop_on_signals(stop.set)
    return stop
