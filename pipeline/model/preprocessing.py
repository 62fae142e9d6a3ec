"""The one text normalisation applied before tokenization, in training and in serving alike.

The bundle manifest records `PREPROCESSING_ID`; a bundle built with another id is refused, so
the model never sees text prepared differently from what it was trained on.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Final

PREPROCESSING_ID: Final[str] = "finsent-text-v1:unescape+nfkc+url+handle+space"

URL_PLACEHOLDER: Final[str] = "url"
HANDLE_PLACEHOLDER: Final[str] = "@user"

# The tokenizer knows "[SEP]" as a special token, so the headline and body stay distinct
# and truncation (from the right) cuts the body first.
BODY_SEPARATOR: Final[str] = " [SEP] "

# Bodies can be 256 KiB; a few times the 128-token budget in characters is all the
# tokenizer can ever keep, so the rest is never tokenized.
MAX_BODY_CHARS: Final[int] = 1_000

_URL = re.compile(r"(?:\bhttps?://|\bwww\.)\S+", re.IGNORECASE)
# "@" not preceded by a word character, so e-mail addresses are left alone.
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}\b")


def preprocess(text: str) -> str:
    """Unescape HTML entities, NFKC-normalise, mask URLs and @handles, collapse whitespace.

    Cashtags (`$AAPL`) are kept: they carry the issuer.
    """
    text = unicodedata.normalize("NFKC", html.unescape(text))
    text = _URL.sub(URL_PLACEHOLDER, text)
    text = _HANDLE.sub(HANDLE_PLACEHOLDER, text)
    return " ".join(text.split())


def build_model_input(headline: str, body: str | None = None) -> str:
    """The model's input for one item: the headline, then the (capped) body after a separator.

    The result is raw text: `ModelRuntime.classify` and training both apply `preprocess`.
    """
    if body is None or not body.strip():
        return headline
    return headline + BODY_SEPARATOR + body[:MAX_BODY_CHARS]
