"""A classification result: what the model said about one item (topic `news.scored`)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Sentiment = str  # one of "negative" | "neutral" | "positive" (labels come from the bundle)


class Classification(BaseModel):
    """One item scored by one model version; keyed by (item_id, model_version)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str
    model_version: str = Field(..., description="Bundle content hash")
    topic: str
    topic_confidence: float = Field(..., ge=0, le=1)
    sentiment: Sentiment
    p_negative: float = Field(..., ge=0, le=1)
    p_neutral: float = Field(..., ge=0, le=1)
    p_positive: float = Field(..., ge=0, le=1)
    score: float = Field(..., ge=-1, le=1, description="p(positive) - p(negative)")
    tickers: tuple[str, ...] = ()
    event_time: AwareDatetime
    processed_at: AwareDatetime
    reprint_of: str | None = None
    kafka_topic: str | None = None
    kafka_partition: int | None = None
    kafka_offset: int | None = None
