"""Fakes of the streaming core's own interfaces, shared by its unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy import event as sa_event
from sqlalchemy.pool import StaticPool

from pipeline.storage.tables import Base
from schemas import NewsEvent

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


@dataclass(frozen=True)
class FakePrediction:
    topic: str
    topic_confidence: float
    sentiment: str
    probabilities: tuple[float, float, float]
    score: float


class FakeRuntime:
    """Scores by keyword ("falls" is negative, "rises" positive); records the texts it scores.

    Its tokenizer is one id per character (the code point), so scoring can read the text back.
    """

    version = "fake-model-v1"
    active_provider = "cpu"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    @property
    def scored(self) -> int:
        return sum(len(c) for c in self.calls)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        return [[ord(c) for c in t] for t in texts]

    def classify_encoded(self, ids: Sequence[Sequence[int]]) -> list[FakePrediction]:
        texts = [self.text_of(row) for row in ids]
        self.calls.append(texts)
        return [self._one(t) for t in texts]

    @staticmethod
    def text_of(ids: Sequence[int]) -> str:
        return "".join(chr(i) for i in ids)

    def _one(self, text: str) -> FakePrediction:
        if "falls" in text:
            probs = (0.8, 0.15, 0.05)
        elif "rises" in text:
            probs = (0.05, 0.15, 0.8)
        else:
            probs = (0.1, 0.8, 0.1)
        labels = ("negative", "neutral", "positive")
        best = max(range(3), key=lambda i: probs[i])
        return FakePrediction("Earnings", 0.9, labels[best], probs, probs[2] - probs[0])


def event(ident: str, headline: str, **fields: Any) -> NewsEvent:
    data: dict[str, Any] = {
        "id": ident,
        "source": "wire",
        "published_at": T0.isoformat(),
        "headline": headline,
    }
    data.update(fields)
    return NewsEvent.model_validate(data)


def sqlite_memory_engine() -> Engine:
    """One shared in-memory SQLite database with the core tables, usable from threads."""
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    sa_event.listen(engine, "connect", lambda conn, _rec: conn.execute("PRAGMA foreign_keys=ON"))
    Base.metadata.create_all(engine)
    return engine
