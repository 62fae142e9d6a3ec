from __future__ import annotations

import pytest

from pipeline.model.preprocessing import (
    BODY_SEPARATOR,
    MAX_BODY_CHARS,
    build_model_input,
    preprocess,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("S&amp;P 500 &gt; 5,000", "S&P 500 > 5,000", id="html entities unescaped"),
        pytest.param("Fed holds https://t.co/AbC123 rates", "Fed holds url rates", id="url masked"),
        pytest.param("see www.example.com/x now", "see url now", id="bare www url masked"),
        pytest.param("@elonmusk says $TSLA up", "@user says $TSLA up", id="handle masked"),
        pytest.param("mail ir@acme.com today", "mail ir@acme.com today", id="email kept"),
        pytest.param("  $AAPL\n\tbeats   estimates ", "$AAPL beats estimates", id="whitespace"),
        pytest.param("ＡＡＰＬ rallies", "AAPL rallies", id="full-width folded (NFKC)"),
        pytest.param("RT @a_b: gold up", "RT @user: gold up", id="retweet handle"),
    ],
)
def test_preprocess(raw: str, expected: str) -> None:
    assert preprocess(raw) == expected


def test_preprocess_is_stable_on_its_own_output() -> None:
    once = preprocess("@desk: $XOM &amp; oil https://t.co/x  up")
    assert preprocess(once) == once


@pytest.mark.parametrize(
    ("headline", "body", "expected"),
    [
        pytest.param("Oil jumps", None, "Oil jumps", id="no body"),
        pytest.param("Oil jumps", "   ", "Oil jumps", id="blank body"),
        pytest.param("Oil jumps", "OPEC cut", "Oil jumps" + BODY_SEPARATOR + "OPEC cut", id="body"),
    ],
)
def test_build_model_input(headline: str, body: str | None, expected: str) -> None:
    assert build_model_input(headline, body) == expected


def test_build_model_input_caps_long_bodies() -> None:
    text = build_model_input("Headline", "x" * (MAX_BODY_CHARS * 50))
    assert text.startswith("Headline" + BODY_SEPARATOR)
    assert len(text) == len("Headline" + BODY_SEPARATOR) + MAX_BODY_CHARS
