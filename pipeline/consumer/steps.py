"""The contract every processing step keeps, and the messages that flow between steps."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")
TIn = TypeVar("TIn")


@dataclass(frozen=True, order=True)
class Partition:
    topic: str
    index: int


@dataclass(frozen=True)
class Message(Generic[T]):
    """A payload and the offsets (next to read, per partition) that are done once it is."""

    payload: T
    committable: Mapping[Partition, int] = field(default_factory=dict)


class MessageRejected(Exception):  # noqa: N818 - a signal, named like arroyo's
    """The step is full: keep the message, pause the partitions, keep polling, try again."""


def merge_offsets(
    messages: list[Message[T]] | list[Mapping[Partition, int]],
) -> dict[Partition, int]:
    """The highest committable offset per partition over several messages."""
    merged: dict[Partition, int] = {}
    for message in messages:
        offsets = message.committable if isinstance(message, Message) else message
        for partition, offset in offsets.items():
            merged[partition] = max(offset, merged.get(partition, offset))
    return merged


class ProcessingStep(ABC, Generic[TIn]):
    """One stage of the chain. Called from the consumer's thread only.

    `submit` hands a message on or raises MessageRejected; `poll` does due work (and must be
    called often); `join` finishes everything submitted within `timeout` seconds; `close`
    refuses further messages; `terminate` drops in-flight work at once.
    """

    @abstractmethod
    def submit(self, message: Message[TIn]) -> None: ...

    @abstractmethod
    def poll(self) -> None: ...

    @abstractmethod
    def join(self, timeout: float | None = None) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def terminate(self) -> None: ...


class ForwardingStep(ProcessingStep[TIn]):
    """A step that works in `submit` only and hands everything else to the next step."""

    def __init__(self, next_step: ProcessingStep[Any]) -> None:
        self._next = next_step

    def poll(self) -> None:
        self._next.poll()

    def join(self, timeout: float | None = None) -> None:
        self._next.join(timeout)

    def close(self) -> None:
        self._next.close()

    def terminate(self) -> None:
        self._next.terminate()
