from __future__ import annotations

import pytest

from pipeline.items.identity import content_hash, copy_fingerprint, normalize_text
from tests.unit.stream_fakes import event


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        pytest.param("Apple  rises\tafter earnings", "apple rises after earnings", id="spaces"),
        pytest.param("APPLE Rises", "apple rises", id="case folded"),
        pytest.param("Apple rises https://t.co/abc123", "apple rises", id="link removed"),
        pytest.param("RT @wire: Apple rises", "apple rises", id="retweet prefix removed"),
        pytest.param("RT @a: RT @b: Apple rises", "apple rises", id="nested retweets"),
        pytest.param("Ａｐｐｌｅ rises", "apple rises", id="full-width NFKC"),
        pytest.param("Apple rises, RT @wire", "apple rises, rt @wire", id="RT only as prefix"),
    ],
)
def test_normalize_text(raw: str, normalized: str) -> None:
    assert normalize_text(raw) == normalized


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        pytest.param(
            {"headline": "Apple rises http://t.co/1"},
            {"headline": "RT @x: apple  RISES http://t.co/2"},
            True,
            id="reprint with other link and retweet",
        ),
        pytest.param(
            {"headline": "Apple rises"}, {"headline": "Apple falls"}, False, id="other text"
        ),
        pytest.param(
            {"headline": "Apple rises", "body": "on iPhone sales"},
            {"headline": "Apple rises"},
            False,
            id="body counts",
        ),
        pytest.param(
            {"headline": "Apple rises on", "body": "sales"},
            {"headline": "Apple rises", "body": "on sales"},
            False,
            id="headline/body boundary counts",
        ),
        pytest.param(
            {"headline": "Apple rises", "source": "a", "url": "https://a.example/1"},
            {"headline": "Apple rises", "source": "b", "url": "https://b.example/2"},
            True,
            id="source and url do not count",
        ),
    ],
)
def test_content_hash_equal_only_for_reprints(
    a: dict[str, str], b: dict[str, str], same: bool
) -> None:
    first = event("1", **a)  # type: ignore[arg-type]
    second = event("2", **b)  # type: ignore[arg-type]
    assert (content_hash(first) == content_hash(second)) is same


def test_content_hash_is_hex_sha256() -> None:
    digest = content_hash(event("1", "Apple rises"))
    assert len(digest) == 64
    int(digest, 16)


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        pytest.param(
            {"headline": "$AAPL down 3% http://t.co/a"},
            {"headline": "$MSFT DOWN 4 %! https://t.co/b"},
            True,
            id="cashtags, numbers, case, punctuation and links vary",
        ),
        pytest.param(
            {"headline": "RT @bot: Sell   now,  $GS"}, {"headline": "sell now $GS"}, True,
            id="retweet prefix and spacing",
        ),
        pytest.param(
            {"headline": "Apple rises"}, {"headline": "Apple falls"}, False, id="a word differs"
        ),
        pytest.param(
            {"headline": "Apple rises", "body": "on iPhone sales"},
            {"headline": "Apple rises"},
            False,
            id="body counts",
        ),
        pytest.param(
            {"headline": "Crash coming $TSLA"}, {"headline": "Crash coming $BRK.B 2"}, True,
            id="class-share cashtag",
        ),
    ],
)
def test_copy_fingerprint_equal_only_for_near_duplicates(
    a: dict[str, str], b: dict[str, str], near: bool
) -> None:
    first = event("1", **a)  # type: ignore[arg-type]
    second = event("2", **b)  # type: ignore[arg-type]
    assert (copy_fingerprint(first) == copy_fingerprint(second)) is near


def test_near_duplicates_need_not_be_reprints() -> None:
    first, second = event("1", "$AAPL down 3%"), event("2", "$AAPL down 4%")
    assert copy_fingerprint(first) == copy_fingerprint(second)
    assert content_hash(first) != content_hash(second)
