"""The formal gold set: loading it and checking that no training text shares an 8-gram with it.

The set (``data/gold/formal_gold.jsonl``) is written apart from every training source and
labelled by ``docs/labelling-guide.md``; ``ngram_overlap`` is how a test proves the separation.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pipeline.model.labels import SENTIMENTS
from pipeline.training.data import DataFileError

GOLD_KINDS: Final[tuple[str, ...]] = ("formal_news", "filing", "press_release", "wire_headline")
_FIELDS: Final[frozenset[str]] = frozenset({"id", "kind", "text", "sentiment"})
_WORD: Final[re.Pattern[str]] = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class GoldRow:
    """One gold sentence: its id, kind of text, the text and its sentiment label."""

    id: str
    kind: str
    text: str
    sentiment: str


def load_gold_set(path: Path) -> list[GoldRow]:
    """Read the gold JSONL file; a malformed line raises DataFileError naming file and line."""
    rows: list[GoldRow] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path}:{number}"
        if not line.strip():
            raise DataFileError(f"{where}: empty line")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or set(obj) != _FIELDS:
            raise DataFileError(f"{where}: expected exactly the fields {sorted(_FIELDS)}")
        if not all(isinstance(obj[key], str) for key in _FIELDS):
            raise DataFileError(f"{where}: every field must be a string")
        row = GoldRow(id=obj["id"], kind=obj["kind"], text=obj["text"], sentiment=obj["sentiment"])
        if row.kind not in GOLD_KINDS:
            raise DataFileError(f"{where}: unknown kind {row.kind!r}")
        if row.sentiment not in SENTIMENTS:
            raise DataFileError(f"{where}: unknown sentiment {row.sentiment!r}")
        rows.append(row)
    return rows


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def word_tokens(text: str) -> list[str]:
    """Lower-cased word tokens: runs of letters and digits; whitespace and punctuation split."""
    return _WORD.findall(text.lower())


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    """The set of word n-grams of a text (empty when it has fewer than n words)."""
    tokens = word_tokens(text)
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def ngram_overlap(
    gold_texts: Iterable[str], training_texts: Iterable[str], n: int = 8
) -> set[tuple[str, ...]]:
    """The word n-grams that occur in both a gold text and a training text (empty = separate)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    gold: set[tuple[str, ...]] = set()
    for text in gold_texts:
        gold |= ngrams(text, n)
    shared: set[tuple[str, ...]] = set()
    for text in training_texts:
        shared |= ngrams(text, n) & gold
    return shared


def jsonl_texts(path: Path, field: str = "text") -> Iterator[str]:
    """The ``field`` of every JSON line of a file (lines without it are skipped)."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                value = json.loads(line).get(field)
                if isinstance(value, str):
                    yield value


def csv_texts(path: Path, column: str = "text") -> Iterator[str]:
    """Only the ``column`` of a headed CSV file, read with a real CSV parser."""
    with path.open(encoding="utf-8", newline="") as handle:
        for record in csv.DictReader(handle):
            value = record.get(column)
            if value is not None:
                yield value
