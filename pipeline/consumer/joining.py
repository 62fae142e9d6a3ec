"""The `join` of a step that holds work: drain it within the timeout, then join the next step
with what is left of the timeout, so the whole chain shares one deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pipeline.consumer.steps import ProcessingStep


def join_within(
    timeout: float | None,
    drained: Callable[[], bool],
    advance: Callable[[], None],
    next_step: ProcessingStep[Any],
) -> None:
    """Call `advance` until `drained()` or the deadline; then join `next_step` unless the
    deadline passed first (its work is then left for `terminate`)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while not drained():
        advance()
        if deadline is not None and time.monotonic() >= deadline:
            return
    next_step.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
