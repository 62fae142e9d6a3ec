"""Item identity and content hash (DESIGN §3): an item is its id; equal text is a reprint."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from schemas import NewsEvent

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_RETWEET = re.compile(r"^(rt\s+@\w+:?\s*)+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Text as compared for reprints: NFKC, case-folded, links and retweet prefixes removed.

    Shortened links differ between copies of the same story, so they do not count.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = _URL.sub(" ", folded)
    folded = _SPACE.sub(" ", folded).strip()
    return _RETWEET.sub("", folded).strip()


def content_hash(event: NewsEvent) -> str:
    """SHA-256 (hex) of the normalized headline and body; equal for reprints."""
    normalized = normalize_text(event.headline) + "\x1f" + normalize_text(event.body or "")
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()
