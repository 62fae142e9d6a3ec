"""The shared classification path of the Kafka worker and the embedded replay.

Decoded events → identity and reprint lookup → one inference per distinct content → scored
items. Reprints reuse the result of their first copy, from memory or from the database.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.errors import StorageError
from pipeline.items.identity import content_hash
from pipeline.items.scored import Coordinates, PredictionLike, ScoredEvent, Scores
from pipeline.items.tickers import TickerExtractor
from pipeline.model.preprocessing import build_model_input
from schemas import NewsEvent

log = logging.getLogger(__name__)


class InferenceRuntime(Protocol):
    """The part of `pipeline.model.runtime.ModelRuntime` the classifier uses."""

    @property
    def version(self) -> str: ...

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]: ...

    def classify_encoded(self, ids: Sequence[Sequence[int]]) -> Sequence[PredictionLike]: ...


# content hash → (first item id, its scores); may raise StorageError.
OriginalLookup = Callable[[Sequence[str]], dict[str, tuple[str, Scores]]]


@dataclass(frozen=True)
class Envelope:
    """A valid event and where it came from.

    `token_ids` are the runtime's ids for `text`, set where they were first needed (the
    worker's batcher) so that nothing tokenizes the text again; None means not yet encoded.
    """

    event: NewsEvent
    coordinates: Coordinates = field(default_factory=Coordinates)
    token_ids: tuple[int, ...] | None = None

    @property
    def text(self) -> str:
        return build_model_input(self.event.headline, self.event.body)


@dataclass(frozen=True)
class ClassifiedBatch:
    items: list[ScoredEvent]
    inferred: int
    reprints: int


class ReprintCache:
    """Recently seen contents (LRU): hash → (first item id, scores)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, tuple[str, Scores]] = OrderedDict()

    def get(self, key: str) -> tuple[str, Scores] | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str, entry: tuple[str, Scores]) -> None:
        if self._capacity <= 0:
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class BatchClassifier:
    """Scores batches of envelopes; not thread-safe (one inference stage owns it)."""

    def __init__(
        self,
        runtime: InferenceRuntime,
        extractor: TickerExtractor,
        lookup: OriginalLookup | None = None,
        cache_size: int = 100_000,
    ) -> None:
        self.runtime = runtime
        self._extractor = extractor
        self._lookup = lookup
        self.cache = ReprintCache(cache_size)

    def classify(self, batch: Sequence[Envelope]) -> ClassifiedBatch:
        hashes = [content_hash(envelope.event) for envelope in batch]
        known = self._known(hashes)
        inferred = self._infer(batch, hashes, known)
        items: list[ScoredEvent] = []
        for envelope, key in zip(batch, hashes, strict=True):
            original_id, scores = known[key]
            reprint_of = original_id if original_id != envelope.event.id else None
            mentions = tuple(self._extractor.mentions(envelope.event))
            items.append(
                ScoredEvent(envelope.event, key, scores, mentions, reprint_of, envelope.coordinates)
            )
        reprints = sum(item.reprint_of is not None for item in items)
        return ClassifiedBatch(items, inferred, reprints)

    def _known(self, hashes: Sequence[str]) -> dict[str, tuple[str, Scores]]:
        known: dict[str, tuple[str, Scores]] = {}
        for key in hashes:
            entry = self.cache.get(key)
            if entry is not None:
                known[key] = entry
        missing = [key for key in dict.fromkeys(hashes) if key not in known]
        if missing and self._lookup is not None:
            known.update(self._stored_originals(missing))
        return known

    def _stored_originals(self, missing: Sequence[str]) -> dict[str, tuple[str, Scores]]:
        assert self._lookup is not None
        try:
            found = self._lookup(missing)
        except StorageError as e:
            # Without the lookup a reprint is only inferred once more; never worth stalling.
            log.warning("reprint lookup unavailable, inferring instead: %s", e)
            return {}
        for key, entry in found.items():
            self.cache.put(key, entry)
        return found

    def _infer(
        self, batch: Sequence[Envelope], hashes: Sequence[str], known: dict[str, tuple[str, Scores]]
    ) -> int:
        first: dict[str, Envelope] = {}
        for envelope, key in zip(batch, hashes, strict=True):
            if key not in known and key not in first:
                first[key] = envelope
        if not first:
            return 0
        predictions = self.runtime.classify_encoded(self._token_ids(list(first.values())))
        for (key, envelope), prediction in zip(first.items(), predictions, strict=True):
            entry = (envelope.event.id, Scores.of(prediction))
            known[key] = entry
            self.cache.put(key, entry)
        return len(first)

    def _token_ids(self, envelopes: Sequence[Envelope]) -> list[Sequence[int]]:
        """The envelopes' own ids; only those that arrived without them are encoded here."""
        unencoded = [e.text for e in envelopes if e.token_ids is None]
        encoded = iter(self.runtime.token_ids(unencoded) if unencoded else [])
        return [e.token_ids if e.token_ids is not None else next(encoded) for e in envelopes]
