"""The kinds of text a model is judged on (shared/PLAN.md): the robustness dev sets.

TFN dev (checkpoint c's split), the same rows style-shifted (no cashtags, handles, URLs or
emoji; sentence case), headlines from seed-grammar templates held out of any seed training,
the formal gold set per kind of text, and gold headlines served with a body, the form the
worker builds for an item that has one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from random import Random

from pipeline.model.headline_grammar import Template
from pipeline.model.labels import SENTIMENTS, TOPICS
from pipeline.model.preprocessing import build_model_input
from pipeline.training.data import DataSource, LabeledRow, load_rows
from pipeline.training.gold import GOLD_KINDS, GoldRow, load_gold_set

REPO_ROOT = Path(__file__).resolve().parents[2]
GOLD_SET = REPO_ROOT / "data" / "gold" / "formal_gold.jsonl"
# Every fifth template of each grammar cell is never rendered into a training corpus.
HELD_OUT_EVERY = 5

_CASHTAG = re.compile(r"\$[A-Za-z][A-Za-z0-9.\-]{0,9}\b")
_HANDLE = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class EvalSet:
    """Labelled rows of one kind of text."""

    name: str
    rows: list[LabeledRow]


def style_shift(text: str) -> str:
    """A tweet made to read like plain prose: what non-tweet text lacks, removed."""
    text = _URL.sub(" ", _HANDLE.sub(" ", _CASHTAG.sub(" ", text)))
    text = "".join(c for c in text if unicodedata.category(c) not in ("So", "Cs", "Co"))
    text = _SPACES.sub(" ", text).strip(" -:|")
    return text[:1].upper() + text[1:].lower() if text else text


def tfn_dev_sets(dev_file: Path) -> list[EvalSet]:
    """TFN dev and its style-shifted twin (rows that shift to nothing are left out)."""
    rows = load_rows([DataSource(dev_file)])
    shifted = [
        LabeledRow(style_shift(r.text), r.topic, r.sentiment) for r in rows if style_shift(r.text)
    ]
    return [EvalSet("tfn_dev", rows), EvalSet("tfn_dev_style_shifted", shifted)]


def held_out_headlines(per_template: int = 2, seed: int = 29) -> EvalSet:
    """Headlines rendered from the held-out templates of the seed grammar, with both labels."""
    from pipeline.items.companies import load_companies
    from pipeline.model.headline_grammar import HeadlineRenderer, load_grammar

    grammar = load_grammar()
    renderer = HeadlineRenderer(grammar, load_companies(), Random(seed))
    rows: list[LabeledRow] = []
    for cell in grammar.cells.values():
        for template in held_out_templates(cell):
            for _ in range(per_template):
                text = renderer.render(template).text
                topic, sentiment = (
                    TOPICS.index(template.topic),
                    SENTIMENTS.index(template.sentiment),
                )
                rows.append(LabeledRow(text, topic, sentiment))
    return EvalSet("grammar_headlines_held_out", rows)


def held_out_templates(cell: Sequence[Template]) -> list[Template]:
    """The templates of one grammar cell that no training corpus may render."""
    return [t for i, t in enumerate(cell) if i % HELD_OUT_EVERY == 0]


def gold_sets(path: Path = GOLD_SET, seed: int = 31) -> list[EvalSet]:
    """The formal gold set per kind, all of it, and gold headlines served with a gold body."""
    gold = load_gold_set(path)
    sets = [
        EvalSet(f"gold_{kind}", _labelled(r for r in gold if r.kind == kind)) for kind in GOLD_KINDS
    ]
    sets.append(EvalSet("gold_all", _labelled(gold)))
    sets.append(EvalSet("gold_headline_with_body", _with_bodies(gold, Random(seed))))
    return sets


def _labelled(rows: Iterable[GoldRow]) -> list[LabeledRow]:
    return [LabeledRow(r.text, None, SENTIMENTS.index(r.sentiment)) for r in rows]


def _with_bodies(gold: list[GoldRow], rng: Random) -> list[LabeledRow]:
    # A headline takes as body a news sentence of the same sentiment: the pair reads as one item.
    rows = []
    for sentiment in SENTIMENTS:
        bodies = [r.text for r in gold if r.kind == "formal_news" and r.sentiment == sentiment]
        for row in (r for r in gold if r.kind == "wire_headline" and r.sentiment == sentiment):
            text = build_model_input(row.text, rng.choice(bodies))
            rows.append(LabeledRow(text, None, SENTIMENTS.index(sentiment)))
    return rows
