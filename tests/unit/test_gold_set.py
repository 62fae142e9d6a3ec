"""The formal gold set: pinned by hash, balanced, well-formed and separate from training data."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pipeline.model.labels import SENTIMENTS
from pipeline.training.gold import (
    GOLD_KINDS,
    GoldRow,
    csv_texts,
    jsonl_texts,
    load_gold_set,
    ngram_overlap,
    sha256_of,
)

ROOT = Path(__file__).resolve().parents[2]
GOLD = ROOT / "data" / "gold" / "formal_gold.jsonl"
GOLD_SHA256 = ROOT / "data" / "gold" / "SHA256"
SEED_TRAIN = ROOT / "data" / "seed" / "train.jsonl"
TFN = ROOT.parent / "shared" / "data" / "twitter_financial_news"
MIN_PER_CELL = 60
MIN_TOTAL = 600


@pytest.fixture(scope="module")
def gold() -> list[GoldRow]:
    return load_gold_set(GOLD)


def _show(shared: set[tuple[str, ...]]) -> str:
    return "; ".join(" ".join(gram) for gram in sorted(shared)[:20])


def test_file_hash_is_the_committed_one() -> None:
    committed = GOLD_SHA256.read_text(encoding="utf-8").split()[0]
    assert sha256_of(GOLD) == committed, "formal_gold.jsonl changed: the gold set is frozen"


def test_counts_per_kind_and_class(gold: list[GoldRow]) -> None:
    assert len(gold) >= MIN_TOTAL
    cells = Counter((row.kind, row.sentiment) for row in gold)
    short = {
        (kind, label): cells[kind, label]
        for kind in GOLD_KINDS
        for label in SENTIMENTS
        if cells[kind, label] < MIN_PER_CELL
    }
    assert not short, f"cells under {MIN_PER_CELL}: {short}"


def test_ids_unique_and_well_formed(gold: list[GoldRow]) -> None:
    ids = [row.id for row in gold]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 5 and i[0] == "g" and i[1:].isdigit() for i in ids)


def test_texts_unique_case_insensitively(gold: list[GoldRow]) -> None:
    dupes = [t for t, c in Counter(row.text.strip().lower() for row in gold).items() if c > 1]
    assert not dupes


def test_labels_and_kinds_valid(gold: list[GoldRow]) -> None:
    assert {row.sentiment for row in gold} == set(SENTIMENTS)
    assert {row.kind for row in gold} == set(GOLD_KINDS)
    assert all(row.text.strip() == row.text and row.text for row in gold)


def test_rows_are_not_grouped_by_class(gold: list[GoldRow]) -> None:
    first = {row.sentiment for row in gold[:60]} | {row.kind for row in gold[:60]}
    assert first >= set(SENTIMENTS) | set(GOLD_KINDS)


def test_ngram_overlap_needs_a_full_8gram() -> None:
    gold_texts = ["Alpha Beta shares rose after the company raised its annual forecast today."]
    training_texts = ["Breaking: THE COMPANY RAISED ITS ANNUAL FORECAST TODAY, sources say"]
    shared_7 = {("the", "company", "raised", "its", "annual", "forecast", "today")}
    assert ngram_overlap(gold_texts, training_texts, n=7) == shared_7
    assert ngram_overlap(gold_texts, training_texts) == set()


@pytest.mark.parametrize(
    ("gold_texts", "training_texts", "expected"),
    [
        pytest.param(
            ["Kelso Bank said net profit rose 12% in the third quarter, beating estimates."],
            ["$KBK net profit rose 12% in the third quarter... https://t.co/x"],
            {("net", "profit", "rose", "12", "in", "the", "third", "quarter")},
            id="shared-8-gram-found-through-case-and-punctuation",
        ),
        pytest.param(
            ["one two three four five six seven"],
            ["one two three four five six seven"],
            set(),
            id="shared-7-gram-ignored",
        ),
        pytest.param(
            ["a b c d e f g h i"],
            ["x a b c d e f g h", "b c d e f g h i y"],
            {("a", "b", "c", "d", "e", "f", "g", "h"), ("b", "c", "d", "e", "f", "g", "h", "i")},
            id="each-training-text-counted",
        ),
        pytest.param(
            ["the quarterly dividend was kept at ten cents per share"],
            ["the quarterly dividend was cut to five cents per share"],
            set(),
            id="near-miss-shares-no-8-gram",
        ),
        pytest.param(
            [], ["anything at all in the training set right here"], set(), id="empty-gold"
        ),
    ],
)
def test_ngram_overlap_table(
    gold_texts: list[str], training_texts: list[str], expected: set[tuple[str, ...]]
) -> None:
    assert ngram_overlap(gold_texts, training_texts) == expected


def test_no_gold_8gram_in_seed_training(gold: list[GoldRow]) -> None:
    shared = ngram_overlap((row.text for row in gold), jsonl_texts(SEED_TRAIN))
    assert not shared, f"gold shares 8-grams with data/seed/train.jsonl: {_show(shared)}"


def test_no_gold_8gram_in_twitter_financial_news_training(gold: list[GoldRow]) -> None:
    if not TFN.is_dir():
        pytest.skip(f"{TFN} is absent (no ../shared next to the repository)")
    files = sorted(TFN.glob("**/*train*.csv"))
    if not files:
        pytest.skip(f"no *train*.csv under {TFN}")
    texts = (text for path in files for text in csv_texts(path, "text"))
    shared = ngram_overlap((row.text for row in gold), texts)
    assert not shared, f"gold shares 8-grams with TFN train: {_show(shared)}"


def test_no_gold_8gram_in_the_written_training_text(gold: list[GoldRow]) -> None:
    written = sorted((ROOT / "data" / "train").glob("*.jsonl"))
    assert written, "data/train/ holds the formal training text written here"
    texts = (text for path in written for text in jsonl_texts(path))
    shared = ngram_overlap((row.text for row in gold), texts)
    assert not shared, f"gold shares 8-grams with data/train/: {_show(shared)}"
