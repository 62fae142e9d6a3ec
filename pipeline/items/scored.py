"""A scored item: one event with its identity, model result and mentions, ready to store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.items.tickers import Mention
from schemas import NewsEvent


class PredictionLike(Protocol):
    """What the model runtime answers for one text (pipeline.model.runtime.Prediction)."""

    @property
    def topic(self) -> str: ...
    @property
    def topic_confidence(self) -> float: ...
    @property
    def sentiment(self) -> str: ...
    @property
    def probabilities(self) -> tuple[float, float, float]: ...
    @property
    def score(self) -> float: ...


@dataclass(frozen=True)
class Scores:
    """The model's answer for one content; reprints share their original's."""

    topic: str
    topic_confidence: float
    sentiment: str
    p_negative: float
    p_neutral: float
    p_positive: float
    score: float

    @classmethod
    def of(cls, prediction: PredictionLike) -> Scores:
        neg, neu, pos = (_unit(p) for p in prediction.probabilities)
        return cls(
            topic=prediction.topic,
            topic_confidence=_unit(prediction.topic_confidence),
            sentiment=prediction.sentiment,
            p_negative=neg,
            p_neutral=neu,
            p_positive=pos,
            score=max(-1.0, min(1.0, float(prediction.score))),
        )


def _unit(p: float) -> float:
    # float32 softmax can overshoot 1 by an ulp; stored probabilities stay in [0, 1].
    return max(0.0, min(1.0, float(p)))


@dataclass(frozen=True)
class Coordinates:
    """Where a message came from in Kafka; None fields in embedded mode."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    timestamp_ms: int | None = None
    key: bytes | None = None


@dataclass(frozen=True)
class ModelRecord:
    """The model version a batch was scored with, as registered in `model_versions`."""

    version: str
    base_model: str
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoredEvent:
    """A news event with its model scores, on its way to storage (what readers get back
    from the `scored_items` view is pipeline.reporting.queries.ScoredItem)."""

    event: NewsEvent
    content_hash: str
    scores: Scores
    mentions: tuple[Mention, ...]
    reprint_of: str | None = None
    coordinates: Coordinates = Coordinates()
