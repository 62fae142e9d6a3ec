"""A step that runs its task on one worker thread, a bounded number of messages ahead.

Two of these in a row (inference, then the DB write) keep the model busy while the
previous batch is written: ONNX Runtime and the database driver release the GIL.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

from pipeline.consumer.joining import join_within
from pipeline.consumer.steps import Message, MessageRejected, ProcessingStep

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class RunTaskInThread(ProcessingStep[TIn], Generic[TIn, TOut]):
    """Results are handed on in submission order; a task's exception stops the chain."""

    def __init__(
        self,
        task: Callable[[TIn], TOut],
        next_step: ProcessingStep[TOut],
        max_pending: int,
        name: str,
    ) -> None:
        self._task = task
        self._next = next_step
        self._max_pending = max_pending
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"finsent-{name}")
        self._pending: deque[tuple[Message[TIn], Future[TOut]]] = deque()
        self.name = name

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, message: Message[TIn]) -> None:
        if len(self._pending) >= self._max_pending:
            raise MessageRejected(f"{self.name} stage is full")
        self._pending.append((message, self._executor.submit(self._task, message.payload)))

    def poll(self) -> None:
        self._forward()
        self._next.poll()

    def join(self, timeout: float | None = None) -> None:
        join_within(timeout, lambda: not self._pending, self._forward_or_wait, self._next)

    def _forward_or_wait(self) -> None:
        if not self._forward():
            self._next.poll()
        if self._pending:
            wait([self._pending[0][1]], timeout=0.005)

    def close(self) -> None:
        self._next.close()

    def terminate(self) -> None:
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._next.terminate()

    def _forward(self) -> bool:
        """Hand on finished results in order; False when the next step rejected one."""
        while self._pending and self._pending[0][1].done():
            message, future = self._pending[0]
            try:
                self._next.submit(Message(future.result(), message.committable))
            except MessageRejected:
                return False
            self._pending.popleft()
        return True
