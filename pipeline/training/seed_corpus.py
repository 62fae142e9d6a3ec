"""The seed training corpus of the default model: synthetic tweets rendered from the grammar.

Every row is written here from `pipeline/data/headline_grammar.txt` (no copied text). About
15% of the rows keep only their sentiment and 15% only their topic, so the masked
multi-task loss sees both kinds of missing label. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import json
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from random import Random

from pipeline.errors import ConfigError
from pipeline.items.companies import load_companies
from pipeline.model.headline_grammar import HeadlineRenderer, load_grammar
from pipeline.model.labels import SENTIMENTS, TOPICS

DEFAULT_PATH = Path("data/seed/train.jsonl")
DEFAULT_PER_TOPIC = 250
SENTIMENT_WEIGHTS = (0.25, 0.45, 0.30)  # negative, neutral, positive (SENTIMENTS order)
ONLY_SENTIMENT_SHARE = 0.15
ONLY_TOPIC_SHARE = 0.15
_MAX_TRIES = 40
_LEADS = ("BREAKING: ", "JUST IN: ", "WATCH: ", "UPDATE: ", "\U0001f6a8 ", "\u26a1 ")
_SMALL_WORDS = frozenset(
    ["a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "vs.", "with"]
)


def build_seed_rows(n_per_topic: int = DEFAULT_PER_TOPIC, seed: int = 13) -> list[dict[str, str]]:
    """`n_per_topic` distinct rows for every topic, shuffled."""
    rng = Random(seed)
    renderer = HeadlineRenderer(load_grammar(), load_companies(), rng)
    seen: set[str] = set()
    rows: list[dict[str, str]] = []
    for topic in TOPICS:
        rows.extend(_topic_rows(renderer, topic, n_per_topic, seen))
    rng.shuffle(rows)
    return [_mask(row, rng) for row in rows]


def write_seed_corpus(path: Path, n_per_topic: int = DEFAULT_PER_TOPIC, seed: int = 13) -> int:
    """Write the corpus as JSONL to `path`; returns the number of rows."""
    rows = build_seed_rows(n_per_topic, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def _topic_rows(
    renderer: HeadlineRenderer, topic: str, count: int, seen: set[str]
) -> list[dict[str, str]]:
    rng = renderer.rng
    rows: list[dict[str, str]] = []
    for _ in range(count * 4):
        sentiment = rng.choices(SENTIMENTS, weights=SENTIMENT_WEIGHTS)[0]
        text = _fresh_text(renderer, topic, sentiment, seen)
        if text is not None:
            rows.append({"text": text, "topic": topic, "sentiment": sentiment})
        if len(rows) == count:
            return rows
    raise ConfigError(f"the grammar cannot make {count} distinct rows for topic {topic!r}")


def _fresh_text(
    renderer: HeadlineRenderer, topic: str, sentiment: str, seen: set[str]
) -> str | None:
    # Distinct before decoration: two rows never differ only by links, case or hashtags.
    cell = renderer.grammar.cell(topic, sentiment)
    for _ in range(_MAX_TRIES):
        headline = renderer.render(renderer.rng.choice(cell))
        if headline.text.casefold() not in seen:
            seen.add(headline.text.casefold())
            text = _add_cashtags(headline.text, headline.tickers, renderer.rng)
            return add_tweet_noise(text, renderer.grammar.fillers, renderer.rng)
    return None


def _add_cashtags(text: str, tickers: Sequence[str], rng: Random) -> str:
    # Feeds often lead with the symbols of the companies a headline names.
    if not tickers or "$" in text or rng.random() >= 0.35:
        return text
    tags = " ".join(f"${t}" for t in tickers)
    return f"{tags} {rng.choice(('-', ':', '|', ''))} {text}".replace("  ", " ")


def _mask(row: dict[str, str], rng: Random) -> dict[str, str]:
    roll = rng.random()
    if roll < ONLY_SENTIMENT_SHARE:
        return {"text": row["text"], "sentiment": row["sentiment"]}
    if roll < ONLY_SENTIMENT_SHARE + ONLY_TOPIC_SHARE:
        return {"text": row["text"], "topic": row["topic"]}
    return row


def add_tweet_noise(text: str, fillers: Mapping[str, tuple[str, ...]], rng: Random) -> str:
    """Decorate a clean headline the way feeds post it; independent of its labels."""
    text = _vary_case(text, rng)
    if "&" in text and rng.random() < 0.6:
        text = text.replace("&", "&amp;")
    if rng.random() < 0.06:
        text = rng.choice(_LEADS) + text
    if rng.random() < 0.08:
        text += "."
    return text + _tail(fillers, rng)


def _vary_case(text: str, rng: Random) -> str:
    roll = rng.random()
    if roll < 0.10:
        return " ".join(_title_word(w, i) for i, w in enumerate(text.split(" ")))
    if roll < 0.13:
        return text.upper()
    return text.lower() if roll < 0.15 else text


def _title_word(word: str, position: int) -> str:
    if position and word in _SMALL_WORDS:
        return word
    return word[:1].upper() + word[1:]


def _tail(fillers: Mapping[str, tuple[str, ...]], rng: Random) -> str:
    parts: list[str] = []
    if rng.random() < 0.04:
        parts.append(f"(via {rng.choice(fillers['handle'])})")
    for _ in range(rng.choices((0, 1, 2), weights=(0.40, 0.50, 0.10))[0]):
        parts.append(_short_url(rng))
    if rng.random() < 0.07:
        parts.append(" ".join(rng.sample(fillers["hashtag"], rng.randint(1, 3))))
    separator = rng.choice(("  ", " "))
    return separator + " ".join(parts) if parts else ""


def _short_url(rng: Random) -> str:
    return "https://t.co/" + "".join(rng.choices(string.ascii_letters + string.digits, k=10))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the finsent seed training corpus.")
    parser.add_argument("--out", type=Path, default=DEFAULT_PATH)
    parser.add_argument("--n-per-topic", type=int, default=DEFAULT_PER_TOPIC)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args(argv)
    count = write_seed_corpus(args.out, args.n_per_topic, args.seed)
    print(f"wrote {count} rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
