"""Language detection for items sent without one: detected, stored, and kept out of windows."""

from __future__ import annotations

import json

import pytest

from pipeline.items.language import detect_language, with_language
from schemas import decode_news_event


def event(headline: str, **extra: object) -> bytes:
    fields = {"source": "twitter", "published_at": "2014-01-02T15:45:00Z", "headline": headline}
    return json.dumps({**fields, **extra}).encode("utf-8")


@pytest.mark.parametrize(
    ("text", "language"),
    [
        pytest.param(
            "Venezuela sin medicamentos para el cáncer en su mayoría niños", "es", id="Spanish"
        ),
        pytest.param(
            "Ericsson fait la paix avec Samsung sur les brevets http://t.co/x $ERIC",
            "fr",
            id="French, with a link and a cashtag",
        ),
        pytest.param(
            "$AAPL - Wall St. kicks off New Year on lower note -> http://t.co/abc",
            "en",
            id="English news-bot tweet",
        ),
        pytest.param("$FB $GOOG $AMZN 3.5% up", None, id="symbols and numbers only: unsure"),
        pytest.param("buy buy buy", None, id="too few letters: unsure"),
    ],
)
def test_detect_language(text: str, language: str | None) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("raw", "lang", "english"),
    [
        pytest.param(
            event("Quiero que Echegaray me explique por qué paga solo una cena"),
            "es",
            False,
            id="no lang: detected, not English",
        ),
        pytest.param(
            event("Apple shares slide after the quarterly results disappoint"),
            "en",
            True,
            id="no lang: English stays English",
        ),
        pytest.param(
            event("Apple shares slide after the quarterly results", lang="de"),
            "de",
            False,
            id="the producer's lang is kept",
        ),
        pytest.param(
            event("Volgende week zondag tegen Ajax in de Arena", lang="en"),
            "en",
            True,
            id="even when it looks wrong",
        ),
        pytest.param(event("$FB up"), "en", True, id="unsure: the default stays"),
    ],
)
def test_events_without_a_language_get_one(raw: bytes, lang: str, english: bool) -> None:
    found = with_language(decode_news_event(raw))
    assert (found.lang, found.is_english) == (lang, english)
