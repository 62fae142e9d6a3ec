"""The batching step: feeds the micro-batcher and hands closed batches on in order.

Dead letters ride in the batch stream at zero tokens, so a batch's offsets never run
ahead of a message that is still in an earlier, unfinished batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.batching import Batcher, BatchLimits
from pipeline.classify import Envelope
from pipeline.consumer.dead_letters import Parked
from pipeline.consumer.steps import Message, MessageRejected, ProcessingStep, merge_offsets
from pipeline.metrics import ClassifierMetrics


@dataclass(frozen=True)
class WorkBatch:
    envelopes: list[Envelope]
    parked: list[Parked]

    def __len__(self) -> int:
        return len(self.envelopes) + len(self.parked)


class BatchStep(ProcessingStep[Envelope | Parked]):
    def __init__(
        self,
        next_step: ProcessingStep[WorkBatch],
        limits: BatchLimits,
        count_tokens: Callable[[Sequence[str]], list[int]],
        monotonic: Callable[[], float],
        metrics: ClassifierMetrics,
    ) -> None:
        self._next = next_step
        self._limits = limits
        self._count_tokens = count_tokens
        self._batcher: Batcher[Message[Envelope | Parked]] = Batcher(limits, monotonic)
        self._uncounted: list[Message[Envelope | Parked]] = []
        self._held: Message[WorkBatch] | None = None
        self._metrics = metrics

    def submit(self, message: Message[Envelope | Parked]) -> None:
        waiting = len(self._batcher) + len(self._uncounted)
        if self._held is not None and waiting >= self._limits.max_size:
            raise MessageRejected("the inference stage is full")
        self._uncounted.append(message)
        if len(self._uncounted) >= self._limits.max_size:
            self._count()

    def poll(self) -> None:
        self._count()
        self._forward(self._batcher.take)
        self._next.poll()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._count()
        while self._held is not None or len(self._batcher):
            if not self._forward(self._batcher.flush):
                self._next.poll()
                time.sleep(0.002)
            if deadline is not None and time.monotonic() >= deadline:
                return
        self._next.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self._next.close()

    def terminate(self) -> None:
        self._batcher.clear()
        self._uncounted.clear()
        self._held = None
        self._next.terminate()

    def _count(self) -> None:
        if not self._uncounted:
            return
        texts = [m.payload.text for m in self._uncounted if isinstance(m.payload, Envelope)]
        tokens = iter(self._count_tokens(texts))
        for message in self._uncounted:
            cost = next(tokens) if isinstance(message.payload, Envelope) else 0
            self._batcher.add(message, cost)
        self._uncounted.clear()

    def _forward(self, take: Callable[[], list[Message[Envelope | Parked]] | None]) -> bool:
        """Hand closed batches on; False when the next step rejected one."""
        while True:
            if self._held is None:
                messages = take()
                if messages is None:
                    return True
                self._held = _as_batch(messages)
            try:
                self._next.submit(self._held)
            except MessageRejected:
                return False
            self._metrics.batch_size.observe(len(self._held.payload))
            self._metrics.in_flight.inc()
            self._held = None


def _as_batch(messages: list[Message[Envelope | Parked]]) -> Message[WorkBatch]:
    envelopes = [m.payload for m in messages if isinstance(m.payload, Envelope)]
    parked = [m.payload for m in messages if isinstance(m.payload, Parked)]
    return Message(WorkBatch(envelopes, parked), merge_offsets(messages))
