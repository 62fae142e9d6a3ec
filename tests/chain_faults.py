"""Faults the tests inject into the classifier's chain through `build_chain`'s wrap hook.

Each one breaks a guarantee on purpose, so a test can show it would see the break: a SIGKILL
between the row and the offset commits, offsets committed before their rows, a record that
kills the worker. None of this is reachable from production settings.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from typing import Any, TypeVar

from pipeline.consumer.batch_step import WorkBatch
from pipeline.consumer.commit import Committer
from pipeline.consumer.steps import ForwardingStep, Message, ProcessingStep

log = logging.getLogger(__name__)
T = TypeVar("T")


def kill_this_process(why: str) -> None:
    """SIGKILL, as an OOM kill or a power cut would: no handler, no drain, no commit."""
    log.warning("%s: killing the worker", why)
    logging.shutdown()
    os.kill(os.getpid(), signal.SIGKILL)


class CrashPoint:
    """Kills the process the `at`-th time it is reached; the log line names `where`."""

    def __init__(self, at: int, where: str) -> None:
        self._at = at
        self._where = where
        self._reached = 0

    def reached(self) -> None:
        self._reached += 1
        if self._reached == self._at:
            kill_this_process(f"test crash point reached ({self._where})")


class CrashOnSubmit(ForwardingStep[T]):
    """Reaches the crash point before handing each message on. In front of the commit step
    this is a crash with the rows committed and their offsets not."""

    def __init__(self, next_step: ProcessingStep[T], crash: CrashPoint) -> None:
        super().__init__(next_step)
        self._crash = crash

    def submit(self, message: Message[T]) -> None:
        self._crash.reached()
        self._next.submit(message)


class EarlyCommit(ForwardingStep[T]):
    """In front of the store step: commits a message's offsets before its rows exist."""

    def __init__(
        self, next_step: ProcessingStep[T], committer: Committer, crash: CrashPoint | None
    ) -> None:
        super().__init__(next_step)
        self._committer = committer
        self._crash = crash

    def submit(self, message: Message[T]) -> None:
        # The crash counts only once the broker has the offsets: a deferred commit loses nothing.
        if self._committer.commit(message.committable) and self._crash is not None:
            self._crash.reached()
        self._next.submit(message)


class KillOnText(ForwardingStep[WorkBatch]):
    """In front of inference: kills the process when a batch holds a headline with `text`,
    so a poison record can be staged at a known offset."""

    def __init__(self, next_step: ProcessingStep[WorkBatch], text: str) -> None:
        super().__init__(next_step)
        self._text = text

    def submit(self, message: Message[WorkBatch]) -> None:
        if any(self._text in envelope.event.headline for envelope in message.payload.envelopes):
            kill_this_process(f"test fault: a headline holds {self._text!r}")
        self._next.submit(message)


@dataclass(frozen=True)
class ChainFaults:
    """The wrap hook: which faults a test worker's chains get.

    `crash_at`: SIGKILL at that commit, between the row and the offset commit, or (with
    `offsets_first`) after the offset commit and before the rows.
    """

    offsets_first: bool = False
    crash_at: int | None = None
    kill_on_text: str | None = None

    def __call__(
        self, name: str, step: ProcessingStep[Any], committer: Committer
    ) -> ProcessingStep[Any]:
        if name == "store" and self.offsets_first:
            return EarlyCommit(step, committer, self._crash("offsets committed, rows not yet"))
        if name == "commit" and not self.offsets_first and self.crash_at is not None:
            return CrashOnSubmit(step, CrashPoint(self.crash_at, "rows committed, offsets not yet"))
        if name == "infer" and self.kill_on_text:
            return KillOnText(step, self.kill_on_text)
        return step

    def _crash(self, where: str) -> CrashPoint | None:
        return None if self.crash_at is None else CrashPoint(self.crash_at, where)
