"""The batching step: feeds the micro-batcher and hands closed batches on in order.

Each text is tokenized here, once: its ids size the batch and then travel in its envelope
to the runtime. Dead letters ride in the batch stream at zero tokens, so a batch's offsets
never run ahead of a message that is still in an earlier, unfinished batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from pipeline.consumer.batching import Batcher, BatchLimits
from pipeline.consumer.dead_letters import Parked
from pipeline.consumer.joining import join_within
from pipeline.consumer.steps import Message, MessageRejected, ProcessingStep, merge_offsets
from pipeline.metrics import ClassifierMetrics
from pipeline.model.classify import Envelope


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
        token_ids: Callable[[Sequence[str]], list[list[int]]],
        monotonic: Callable[[], float],
        metrics: ClassifierMetrics,
    ) -> None:
        self._next = next_step
        self._limits = limits
        self._token_ids = token_ids
        self._batcher: Batcher[Message[Envelope | Parked]] = Batcher(limits, monotonic)
        self._unencoded: list[Message[Envelope | Parked]] = []
        self._held: Message[WorkBatch] | None = None
        self._metrics = metrics

    def submit(self, message: Message[Envelope | Parked]) -> None:
        waiting = len(self._batcher) + len(self._unencoded)
        if self._held is not None and waiting >= self._limits.max_size:
            raise MessageRejected("the inference stage is full")
        self._unencoded.append(message)
        if len(self._unencoded) >= self._limits.max_size:
            self._encode()

    def poll(self) -> None:
        self._encode()
        self._forward(self._batcher.take)
        self._next.poll()

    def join(self, timeout: float | None = None) -> None:
        self._encode()
        join_within(timeout, self._drained, self._flush_or_wait, self._next)

    def _drained(self) -> bool:
        return self._held is None and not len(self._batcher)

    def _flush_or_wait(self) -> None:
        if not self._forward(self._batcher.flush):
            self._next.poll()
            time.sleep(0.002)

    def close(self) -> None:
        self._next.close()

    def terminate(self) -> None:
        self._batcher.clear()
        self._unencoded.clear()
        self._held = None
        self._next.terminate()

    def _encode(self) -> None:
        if not self._unencoded:
            return
        texts = [m.payload.text for m in self._unencoded if isinstance(m.payload, Envelope)]
        encoded = iter(self._token_ids(texts))
        for message in self._unencoded:
            if isinstance(message.payload, Envelope):
                ids = tuple(next(encoded))
                self._batcher.add(_carrying(message, message.payload, ids), len(ids))
            else:
                self._batcher.add(message, 0)
        self._unencoded.clear()

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


def _carrying(
    message: Message[Envelope | Parked], envelope: Envelope, ids: tuple[int, ...]
) -> Message[Envelope | Parked]:
    return Message(replace(envelope, token_ids=ids), message.committable)


def _as_batch(messages: list[Message[Envelope | Parked]]) -> Message[WorkBatch]:
    envelopes = [m.payload for m in messages if isinstance(m.payload, Envelope)]
    parked = [m.payload for m in messages if isinstance(m.payload, Parked)]
    return Message(WorkBatch(envelopes, parked), merge_offsets(messages))
