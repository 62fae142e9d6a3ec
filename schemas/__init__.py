"""Models that cross a process boundary. Imports only pydantic (and the standard library)."""

from schemas.classification import Classification
from schemas.dead_letter import DeadLetter
from schemas.news import (
    SYMBOL_PATTERN,
    EventRejected,
    NewsEvent,
    decode_news_event,
    normalize_symbol,
    validate_news_event,
)

__all__ = [
    "SYMBOL_PATTERN",
    "Classification",
    "DeadLetter",
    "EventRejected",
    "NewsEvent",
    "decode_news_event",
    "normalize_symbol",
    "validate_news_event",
]
