"""Language of items that arrive without one (DESIGN §3: non-English is kept out of windows).

An offline detector whose model ships in its wheel (py3langid). Tweets are short and full of
symbols, so cashtags, handles, links and numbers are removed first, and an item is only
called non-English on enough letters and a confident answer; otherwise it stays `en`.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from schemas import NewsEvent

log = logging.getLogger(__name__)

NOISE = re.compile(r"https?://\S+|[$@#]\w+|\bRT\b|\d[\d.,%]*")
MIN_LETTERS = 15
MIN_CONFIDENCE = 0.9
# Candidates: the languages of finance news and social posts; fewer classes, fewer mistakes.
LANGUAGES = (
    "en",
    "es",
    "pt",
    "fr",
    "de",
    "it",
    "nl",
    "id",
    "ms",
    "tr",
    "ru",
    "ja",
    "zh",
    "ko",
    "ar",
    "hi",
    "pl",
    "sv",
    "ca",
    "tl",
)


@functools.cache
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def load_detector() -> None:
    """Loads the detector's model now (about a second; otherwise the first item pays it)."""
    _identifier()


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of `text`, or None when the text is too short or the answer unsure."""
    cleaned = NOISE.sub(" ", text)
    if sum(ch.isalpha() for ch in cleaned) < MIN_LETTERS:
        return None
    language, confidence = _identifier().classify(cleaned)
    return str(language) if confidence >= MIN_CONFIDENCE else None


def with_language(event: NewsEvent) -> NewsEvent:
    """The event with a detected `lang` when the producer sent none (a producer's is kept)."""
    if "lang" in event.model_fields_set:
        return event
    try:
        detected = detect_language(f"{event.headline} {event.body or ''}")
    except Exception as e:  # a detector bug must not cost a valid item: keep the default
        log.warning("language detection failed for %s: %s", event.id, type(e).__name__)
        return event
    if detected is None or detected == event.lang:
        return event
    return event.model_copy(update={"lang": detected})
