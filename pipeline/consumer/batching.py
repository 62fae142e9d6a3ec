"""The micro-batcher: closes a batch by size, by wait, or by its padded token budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pipeline.settings import BatchingSettings

T = TypeVar("T")


@dataclass(frozen=True)
class BatchLimits:
    max_size: int
    max_wait_s: float
    max_tokens: int

    @classmethod
    def from_settings(cls, settings: BatchingSettings) -> BatchLimits:
        return cls(settings.max_batch_size, settings.max_wait_ms / 1000, settings.max_batch_tokens)


@dataclass
class _Open(Generic[T]):
    items: list[tuple[T, int]] = field(default_factory=list)
    longest: int = 0
    opened_at: float = 0.0


class Batcher(Generic[T]):
    """Collects items with their token counts; `take()` returns them sorted by length.

    The token budget is the padded cost (items times longest), since the runtime pads to the
    longest item of a batch; one item over the budget still makes a batch of its own.
    """

    def __init__(self, limits: BatchLimits, monotonic: Callable[[], float]) -> None:
        self._limits = limits
        self._monotonic = monotonic
        self._open: _Open[T] = _Open()
        self._closed: list[list[T]] = []

    def add(self, item: T, tokens: int) -> None:
        current = self._open
        longest = max(current.longest, tokens)
        if current.items and longest * (len(current.items) + 1) > self._limits.max_tokens:
            self._close()
            current, longest = self._open, tokens
        if not current.items:
            current.opened_at = self._monotonic()
        current.items.append((item, tokens))
        current.longest = longest
        if len(current.items) >= self._limits.max_size:
            self._close()

    def ready(self) -> bool:
        """A batch is closed, or the open one has waited its maximum."""
        return bool(self._closed) or self._expired()

    def take(self) -> list[T] | None:
        """The oldest closed batch (closing an expired one first), or None."""
        if not self._closed and self._expired():
            self._close()
        return self._closed.pop(0) if self._closed else None

    def flush(self) -> list[T] | None:
        """The oldest batch, closing the open one regardless of its age."""
        if not self._closed and self._open.items:
            self._close()
        return self._closed.pop(0) if self._closed else None

    def __len__(self) -> int:
        return len(self._open.items) + sum(len(batch) for batch in self._closed)

    def clear(self) -> None:
        self._open, self._closed = _Open(), []

    def _expired(self) -> bool:
        current = self._open
        return bool(current.items) and (
            self._monotonic() - current.opened_at >= self._limits.max_wait_s
        )

    def _close(self) -> None:
        ordered = sorted(self._open.items, key=lambda pair: pair[1])
        self._closed.append([item for item, _ in ordered])
        self._open = _Open()
