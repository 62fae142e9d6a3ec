"""TEST ONLY: a fault injected into inference, so a poison record can be staged from a test."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

from pipeline.consumer.batch_step import WorkBatch
from pipeline.consumer.store import ScoredWork

log = logging.getLogger(__name__)


class KillOnText:
    """Wraps the inference task: SIGKILLs the process when a headline holds `text`."""

    def __init__(self, task: Callable[[WorkBatch], ScoredWork], text: str) -> None:
        self._task = task
        self._text = text

    def __call__(self, batch: WorkBatch) -> ScoredWork:
        if any(self._text in envelope.event.headline for envelope in batch.envelopes):
            log.warning("test fault: a headline holds %r; killing the worker", self._text)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)
        return self._task(batch)
