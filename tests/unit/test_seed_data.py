"""The data finsent writes itself: seed corpus, company dictionary, demo stream."""

from __future__ import annotations

import bisect
import json
import re
import statistics
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pipeline.demo.stream import DemoItem, build_demo_stream, write_demo_stream
from pipeline.items.companies import load_companies
from pipeline.items.tickers import CompanyMatcher, extract_cashtags
from pipeline.model.labels import SENTIMENTS, TOPICS
from pipeline.training.seed_corpus import build_seed_rows, write_seed_corpus
from schemas.news import NewsEvent, normalize_symbol

ROOT = Path(__file__).resolve().parents[2]
SEED_CORPUS = ROOT / "data" / "seed" / "train.jsonl"
DATA = ROOT / "pipeline" / "data"
SYMBOL = re.compile(r"^[A-Z][A-Z0-9]{0,5}([.-][A-Z0-9]{1,2})?$")
HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def seed_rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in SEED_CORPUS.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def demo_items() -> list[DemoItem]:
    return build_demo_stream()


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / "demo_expected.json").read_text("utf-8"))
    return loaded


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- seed corpus -------------------------------------------------------------------------


def test_seed_corpus_same_seed_same_bytes(tmp_path: Path) -> None:
    first, second, other = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "c.jsonl"
    assert write_seed_corpus(first, n_per_topic=30, seed=5) == 600
    write_seed_corpus(second, n_per_topic=30, seed=5)
    write_seed_corpus(other, n_per_topic=30, seed=6)
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_committed_seed_corpus_is_the_generators_output(tmp_path: Path) -> None:
    fresh = tmp_path / "train.jsonl"
    write_seed_corpus(fresh)
    assert fresh.read_bytes() == SEED_CORPUS.read_bytes(), "regenerate data/seed/train.jsonl"


def test_seed_corpus_size(seed_rows: list[dict[str, str]]) -> None:
    assert 4_000 <= len(seed_rows) <= 6_000
    assert SEED_CORPUS.stat().st_size < 2 * 1024 * 1024


def test_seed_corpus_labels_are_known_and_present(seed_rows: list[dict[str, str]]) -> None:
    for row in seed_rows:
        assert row["text"].strip()
        assert "topic" in row or "sentiment" in row
        assert row.get("topic", TOPICS[0]) in TOPICS
        assert row.get("sentiment", SENTIMENTS[0]) in SENTIMENTS
    topics = Counter(r["topic"] for r in seed_rows if "topic" in r)
    sentiments = Counter(r["sentiment"] for r in seed_rows if "sentiment" in r)
    assert set(topics) == set(TOPICS)
    assert min(topics.values()) >= 150
    assert set(sentiments) == set(SENTIMENTS)
    assert min(sentiments.values()) >= 800


def test_seed_corpus_sentiment_balance(seed_rows: list[dict[str, str]]) -> None:
    counts = Counter(r["sentiment"] for r in seed_rows if "sentiment" in r)
    total = sum(counts.values())
    assert 0.20 <= counts["negative"] / total <= 0.30
    assert 0.40 <= counts["neutral"] / total <= 0.50
    assert 0.25 <= counts["positive"] / total <= 0.35


def test_every_topic_has_every_sentiment(seed_rows: list[dict[str, str]]) -> None:
    cells = Counter((r["topic"], r["sentiment"]) for r in seed_rows if len(r) == 3)
    assert min(cells[(t, s)] for t in TOPICS for s in SENTIMENTS) >= 10


def test_seed_corpus_masks_some_labels(seed_rows: list[dict[str, str]]) -> None:
    only_sentiment = sum("topic" not in r for r in seed_rows) / len(seed_rows)
    only_topic = sum("sentiment" not in r for r in seed_rows) / len(seed_rows)
    assert 0.10 <= only_sentiment <= 0.20
    assert 0.10 <= only_topic <= 0.20


def test_seed_corpus_has_almost_no_duplicates(seed_rows: list[dict[str, str]]) -> None:
    def core(text: str) -> str:
        return re.sub(r"https://t\.co/\S+|#\w+|\(via @\w+\)", "", text).strip(" .").casefold()

    distinct = {core(r["text"]) for r in seed_rows}
    assert len(distinct) >= 0.99 * len(seed_rows)


def test_seed_corpus_looks_like_tweets(seed_rows: list[dict[str, str]]) -> None:
    texts = [r["text"] for r in seed_rows]
    assert sum("https://t.co/" in t for t in texts) > 0.4 * len(texts)
    assert sum(bool(re.search(r"\$[A-Z]{1,5}\b", t)) for t in texts) > 0.1 * len(texts)
    assert any("&amp;" in t for t in texts)
    assert max(len(t) for t in texts) < 320


def test_build_seed_rows_honours_count() -> None:
    rows = build_seed_rows(n_per_topic=12, seed=1)
    assert len(rows) == 12 * len(TOPICS)
    assert Counter(r.get("topic") for r in rows if "topic" in r).keys() <= set(TOPICS)


# --- company dictionary ------------------------------------------------------------------


def test_company_dictionary_parses_with_unique_symbols() -> None:
    companies = load_companies()
    assert len(companies) >= 300
    tickers = [c.ticker for c in companies]
    assert len(set(tickers)) == len(tickers)
    assert all(SYMBOL.match(t) for t in tickers)
    assert all(normalize_symbol(t) == t for t in tickers)


def test_company_names_point_at_one_issuer_each() -> None:
    owners: dict[str, set[str]] = {}
    for company in load_companies():
        for name in company.names:
            assert name == name.strip()
            assert name
            owners.setdefault(name.casefold(), set()).add(company.ticker)
    assert {n: t for n, t in owners.items() if len(t) > 1} == {}


def test_company_dictionary_knows_big_issuers_and_the_demo_issuer() -> None:
    by_ticker = {c.ticker: c for c in load_companies()}
    assert "Apple" in by_ticker["AAPL"].names
    assert "Goldman Sachs" in by_ticker["GS"].names
    assert "Berkshire Hathaway" in by_ticker["BRK-B"].names
    assert "Novalith" in by_ticker["NVLT"].names


@pytest.mark.parametrize(
    "word", ["Target", "Visa", "Block", "Shell", "Delta", "United", "Snap", "Match", "Zoom"]
)
def test_common_words_are_not_aliases(word: str) -> None:
    names = {n for c in load_companies() for n in c.names}
    assert word not in names


def test_company_dictionary_file_shape() -> None:
    lines = (DATA / "companies.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "ticker,name,aliases"
    assert len(lines) - 1 == len(load_companies())


# --- demo stream ---------------------------------------------------------------------------


def test_committed_demo_stream_is_the_generators_output(
    demo_items: list[DemoItem], expected: dict[str, Any], tmp_path: Path
) -> None:
    stream, outcome = tmp_path / "stream.jsonl", tmp_path / "expected.json"
    assert write_demo_stream(stream, outcome) == len(demo_items)
    assert stream.read_bytes() == (DATA / "demo_stream.jsonl").read_bytes()
    assert json.loads(outcome.read_text("utf-8")) == expected


def test_demo_stream_events_are_valid(expected: dict[str, Any]) -> None:
    path = DATA / "demo_stream.jsonl"
    assert path.stat().st_size < 3 * 1024 * 1024
    start, end = _at(expected["stream_start"]), _at(expected["stream_end"])
    events = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert 2_000 <= len(events) <= 4_000
    assert len(events) == expected["events"]
    for raw in events:
        assert {"source", "published_at", "headline", "schema_version"} <= raw.keys()
        assert _at(raw["published_at"]).tzinfo is not None
        event = NewsEvent.model_validate(raw)
        assert start <= event.published_at < end
    ids = [e["id"] for e in events if "id" in e]
    assert len(set(ids)) == len(ids)
    assert 0 < len(events) - len(ids) < 0.1 * len(events)


def test_demo_stream_has_reprints_and_other_languages(demo_items: list[DemoItem]) -> None:
    headlines = Counter(str(i.event["headline"]) for i in demo_items)
    repeats = sum(n - 1 for n in headlines.values())
    assert 0.05 <= repeats / len(demo_items) <= 0.15
    langs = Counter(i.event.get("lang", "en") for i in demo_items)
    assert langs["de"] >= 2
    assert langs["es"] >= 2
    sources = {i.event["source"] for i in demo_items}
    assert len(sources) >= 5


def _mentions_by_ticker(items: list[DemoItem]) -> dict[str, list[datetime]]:
    # What the classifier will store: producer tickers, cashtags, and company names.
    matcher = CompanyMatcher(load_companies())
    times: dict[str, list[datetime]] = {}
    for item in items:
        event = NewsEvent.model_validate(item.event)
        text = f"{event.headline}\n{event.body or ''}"
        symbols = {*event.tickers, *extract_cashtags(text), *matcher.find(text)}
        for symbol in symbols:
            times.setdefault(symbol, []).append(event.published_at)
    return {symbol: sorted(ts) for symbol, ts in times.items()}


def _busiest_hour(times: list[datetime]) -> tuple[int, datetime]:
    best = (0, times[0])
    for n, start in enumerate(times):
        count = bisect.bisect_left(times, start + HOUR) - n
        best = max(best, (count, start))
    return best


def test_only_the_scandal_issuer_ever_reaches_the_ticker_minimum(
    demo_items: list[DemoItem], expected: dict[str, Any]
) -> None:
    by_ticker = _mentions_by_ticker(demo_items)
    (alerting,) = expected["ticker_alerts"]
    busiest = {s: _busiest_hour(ts)[0] for s, ts in by_ticker.items() if s != alerting}
    assert max(busiest.values()) <= expected["other_ticker_max_items_per_hour"] < 5
    assert sum(n >= 3 for n in busiest.values()) >= 10  # the others are covered, just calmly


def test_burst_is_where_the_expected_outcome_says(
    demo_items: list[DemoItem], expected: dict[str, Any]
) -> None:
    (alerting,) = expected["ticker_alerts"]
    times = _mentions_by_ticker(demo_items)[alerting]
    burst_start, burst_end = _at(expected["burst_start"]), _at(expected["burst_end"])
    count, start = _busiest_hour(times)
    assert count >= 40
    assert burst_start <= start <= burst_end
    inside = [t for t in times if burst_start <= t <= burst_end]
    assert 40 <= len(inside) <= 80
    assert expected["burst_events"] == len(inside)


def test_scandal_issuer_has_a_full_baseline(
    demo_items: list[DemoItem], expected: dict[str, Any]
) -> None:
    (alerting,) = expected["ticker_alerts"]
    times = _mentions_by_ticker(demo_items)[alerting]
    burst_start = _at(expected["burst_start"])
    hourly = [
        sum(burst_start - (k + 1) * HOUR <= t < burst_start - k * HOUR for t in times)
        for k in range(24)
    ]
    assert min(hourly) >= 3
    assert max(hourly) <= 10


def _spike_states(items: list[tuple[datetime, bool]], steps: list[datetime]) -> list[str]:
    # DESIGN §5 with its defaults: W = 1 h, K = 24, MAD floor 0.05, ticker minimum 5, hold 2,
    # resolve after 3 false steps.
    times = [t for t, _ in items]
    negatives = [t for t, negative in items if negative]

    def window(end: datetime) -> tuple[int, float]:
        count = bisect.bisect_right(times, end) - bisect.bisect_right(times, end - HOUR)
        neg = bisect.bisect_right(negatives, end) - bisect.bisect_right(negatives, end - HOUR)
        return count, (neg / count if count else 0.0)

    states, state, held, calm = [], "idle", 0, 0
    for step in steps:
        count, share = window(step)
        baseline = [window(step - HOUR * k) for k in range(1, 25)]
        shares = [s for n, s in baseline if n > 0]
        condition = False
        if len(shares) >= 6:
            median = statistics.median(shares)
            mad = statistics.median(abs(s - median) for s in shares)
            z = (share - median) / max(1.4826 * mad, 0.05)
            condition = z >= 3 and count >= 5 and share >= 0.4
        held, calm = (held + 1, 0) if condition else (0, calm + 1)
        if state != "firing" and held >= 2:
            state = "firing"
        elif state == "firing" and calm >= 3:
            state = "resolved"
        states.append(state)
    return states


def test_spike_rule_on_the_intended_labels_fires_once_for_the_issuer(
    demo_items: list[DemoItem], expected: dict[str, Any]
) -> None:
    (alerting,) = expected["ticker_alerts"]
    english = [i for i in demo_items if i.event.get("lang", "en") == "en"]
    scandal = sorted(
        (i.published_at, i.sentiment == "negative") for i in english if alerting in i.mentions
    )
    start = _at(expected["stream_start"]) + timedelta(days=1)
    steps = [start + timedelta(minutes=m) for m in range(24 * 60)]
    states = _spike_states(scandal, steps)
    fired = [s for s, state in zip(steps, states, strict=True) if state == "firing"]
    assert fired, "the scandal issuer never fires"
    assert _at(expected["burst_start"]) <= fired[0] <= _at(expected["burst_end"])
    assert fired[-1] < _at(expected["resolved_by"])
    assert states[-1] == "resolved"
    first, last = steps.index(fired[0]), steps.index(fired[-1])
    assert states[first : last + 1] == ["firing"] * (last - first + 1)
