"""Item identity, content hash and copy fingerprint (DESIGN §3): an item is its id; equal
text is a reprint; equal text up to what copy-paste bursts vary is a near-duplicate."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from schemas import NewsEvent

_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_RETWEET = re.compile(r"^(rt\s+@\w+:?\s*)+", re.IGNORECASE)
_SPACE = re.compile(r"\s+")
_CASHTAG = re.compile(r"\$[^\W\d_][\w.-]*")
_NOT_A_LETTER = re.compile(r"[\W\d_]+")


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


def copy_fingerprint(event: NewsEvent) -> str:
    """SHA-256 (hex) of the headline and body reduced to their letters: `normalize_text`
    (Unicode form, case, links, retweet prefixes), then cashtags, digits, punctuation and
    whitespace removed.

    "Near-duplicate" means exactly this: two items are near-duplicates when they share this
    fingerprint, i.e. the same words in the same order whatever their case, links, numbers,
    cashtags, punctuation and spacing ("$AAPL down 3% http://a" and "$MSFT down 4 %!").
    Windows count each (source, fingerprint) once.
    """
    parts = (_letters(event.headline), _letters(event.body or ""))
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _letters(text: str) -> str:
    return _NOT_A_LETTER.sub("", _CASHTAG.sub("", normalize_text(text)))
