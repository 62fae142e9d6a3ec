"""The bundled demo stream: two days of synthetic news, a quiet day and then one scandal.

Day 1 builds the baselines; on day 2 at 14:00 UTC the fictional issuer Novalith (NVLT) is hit
by a burst of negative headlines, then coverage calms down. Every other ticker stays under
the ticker alert minimum (at most `OTHER_TICKER_CAP` items in any hour), so whatever the model
says, NVLT is the only ticker that can alert. Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from random import Random

from pipeline.demo.mentions import MentionFinder, MentionLedger
from pipeline.demo.timeline import Slot, build_timeline
from pipeline.items.companies import Company, load_companies
from pipeline.model.headline_grammar import HeadlineRenderer, Template, load_grammar
from pipeline.model.labels import SENTIMENTS, TOPICS

START = datetime(2026, 3, 9, tzinfo=UTC)
END = START + timedelta(days=2)
SCANDAL_TICKER = "NVLT"
BURST_START = datetime(2026, 3, 10, 14, tzinfo=UTC)
BURST_END = BURST_START + timedelta(minutes=55)
RESOLVED_BY = datetime(2026, 3, 10, 18, tzinfo=UTC)
OTHER_TICKER_CAP = 4  # the ticker scope needs 5 items in a window to alert
DEFAULT_STREAM = Path(__file__).resolve().parents[1] / "data" / "demo_stream.jsonl"
DEFAULT_EXPECTED = Path(__file__).resolve().parents[1] / "data" / "demo_expected.json"

DEMO_POOL = "demo"  # the grammar's pool of the ~30 tickers the demo's market news covers
MAIN_TICKERS = frozenset({"AAPL", "MSFT", "NVDA", "TSLA", "AMZN"})
# Roughly the topic mix of financial news feeds, flattened so every topic shows up.
MARKET_TOPIC_WEIGHTS = (3, 5, 12, 3, 3, 6, 4, 4, 2, 7, 2, 1.5, 4, 4, 8, 5, 5, 3, 8, 5)
ISSUER_TOPIC_WEIGHTS = {
    "Company | Product News": 4.0,
    "Stock Commentary": 3.0,
    "Analyst Update": 2.0,
    "Stock Movement": 2.0,
    "Earnings": 1.0,
    "Personnel Change": 1.0,
    "M&A | Investments": 1.0,
    "Dividend": 1.0,
}
FOREIGN_SHARE = 0.015
REPRINT_SHARE = 0.14  # some are dropped by the ticker cap: ~10% of items
MISSING_ID_SHARE = 0.03
EASTERN = timezone(timedelta(hours=-4))  # US daylight time began on 2026-03-08
SOURCES = (  # name, id prefix, web domain, weight
    ("northwind-wire", "nw", "northwind.example.com", 5),
    ("harbor-street", "hs", "harborstreet.example.com", 4),
    ("tickertape", "tt", "tickertape.example.net", 4),
    ("ledger-line", "ll", "ledgerline.example.org", 3),
    ("capital-pulse", "cp", "capitalpulse.example.com", 2),
    ("meridian-markets", "mm", "meridian.example.com", 2),
    ("fintwit-digest", "fd", "fintwit.example.net", 1),
)
FOREIGN_HEADLINES = (  # lang, topic, headline
    ("de", "Earnings", "{co} legt am Donnerstag Quartalszahlen vor"),
    ("de", "Markets", "Dax schließt kaum verändert"),
    ("de", "Energy | Oil", "Ölpreis stabil vor dem Opec-Treffen"),
    ("de", "Currencies", "Euro gibt im frühen Handel leicht nach"),
    ("de", "Stock Movement", "{co}: Aktie im frühen Handel wenig bewegt"),
    ("es", "Earnings", "{co} presentará sus resultados trimestrales el jueves"),
    ("es", "Markets", "El Ibex 35 cierra con leves cambios"),
    ("es", "Energy | Oil", "El petróleo se mantiene estable antes de la reunión de la OPEP"),
    ("es", "Markets", "Las bolsas europeas abren mixtas"),
)
FOREIGN_SCANDAL = (  # lang, topic, headline
    ("de", "Stock Movement", "Novalith-Aktie bricht nach Bilanzvorwürfen ein"),
    (
        "es",
        "Legal | Regulation",
        "Las acciones de Novalith se desploman por una investigación contable",
    ),
)
BURST_FILLER_TOPICS = ("Stock Movement", "Analyst Update", "Legal | Regulation", "Personnel Change")
BODIES = (
    "The company did not immediately respond to a request for comment.",
    "The figures were included in a regulatory filing.",
    "The statement was released before the market opened.",
    "More details are expected at the next investor event.",
    "This story is developing and may be updated.",
)
SCANDAL_BODIES = (
    "The company said it is cooperating with the inquiry.",
    "Trading volume was several times the daily average.",
    "People familiar with the matter said the review covers several years of revenue.",
)


@dataclass(frozen=True)
class DemoItem:
    """One event of the stream, with the labels and mentions it was generated with."""

    event: dict[str, object]
    published_at: datetime
    arrival: datetime
    topic: str
    sentiment: str
    mentions: frozenset[str]


@dataclass(frozen=True)
class _Draft:
    slot: Slot
    source: str
    headline: str
    topic: str
    sentiment: str
    tickers: tuple[str, ...]  # the companies the headline was written about
    lang: str = "en"
    body: str | None = None


def build_demo_stream(seed: int = 7) -> list[DemoItem]:
    """The whole stream in file (arrival) order."""
    rng, grammar, companies = Random(seed), load_grammar(), load_companies()
    pool = [c for c in companies if c.ticker in grammar.pools[DEMO_POOL]]
    writer = _Writer(rng, HeadlineRenderer(grammar, pool, rng), companies)
    drafts = writer.originals(build_timeline(rng, START, END, BURST_START, BURST_END))
    drafts += writer.reprints(drafts)
    items = [writer.item(d, n) for n, d in enumerate(sorted(drafts, key=_draft_order))]
    return sorted(items, key=lambda i: (i.arrival, i.published_at))


def _draft_order(draft: _Draft) -> tuple[datetime, str]:
    return draft.slot.at, draft.headline


class _Writer:
    """Turns slots into drafts (headline, labels, tickers) and drafts into events."""

    def __init__(
        self,
        rng: Random,
        renderer: HeadlineRenderer,
        companies: Sequence[Company],
    ) -> None:
        self.rng = rng
        self.renderer = renderer
        self.issuer = next(c for c in companies if c.ticker == SCANDAL_TICKER)
        self.finder = MentionFinder(companies)
        self.ledger = MentionLedger(SCANDAL_TICKER, OTHER_TICKER_CAP)
        self.last_issuer_negative = START - timedelta(days=1)
        self.foreign_scandals = 0
        self.headlines: set[str] = set()
        self.market_cells = self._cells(lambda t: t.company_count <= 1 and not t.scandal)
        self.issuer_cells = self._cells(lambda t: t.company_count == 1 and not t.scandal)
        grammar = renderer.grammar
        self.scandal = [t for t in grammar.templates if t.scandal and t.company_count == 1]
        self.burst_fillers = [
            t for topic in BURST_FILLER_TOPICS for t in self.issuer_cells[(topic, "negative")]
        ]

    def _cells(self, keep: Callable[[Template], bool]) -> dict[tuple[str, str], list[Template]]:
        cells = self.renderer.grammar.cells
        return {key: [t for t in cell if keep(t)] for key, cell in cells.items()}

    def originals(self, slots: Iterable[Slot]) -> list[_Draft]:
        drafts = (self._first_admitted(slot) for slot in slots)
        return [d for d in drafts if d is not None]

    def reprints(self, drafts: Iterable[_Draft]) -> list[_Draft]:
        """The same headline again from another source, a little later (~10% of items)."""
        copies: list[_Draft] = []
        for draft in drafts:
            if not _reprintable(draft) or self.rng.random() >= REPRINT_SHARE:
                continue
            at = draft.slot.at + timedelta(minutes=self.rng.uniform(1, 25))
            copy = replace(draft, slot=replace(draft.slot, at=at), source=self._source(draft))
            if at < END and self._admit(copy):
                copies.append(copy)
        return copies

    def _first_admitted(self, slot: Slot) -> _Draft | None:
        # Originals never repeat a headline, so every repeated headline is a deliberate reprint.
        for _ in range(12):
            draft = self._draft(slot)
            if draft.headline not in self.headlines and self._admit(draft):
                self.headlines.add(draft.headline)
                return draft
        return None

    def _admit(self, draft: _Draft) -> bool:
        mentions = self.finder.find(draft.headline) | set(draft.tickers)
        if not self.ledger.admits(mentions, draft.slot.at):
            return False
        self.ledger.record(mentions, draft.slot.at)
        if SCANDAL_TICKER in mentions and draft.sentiment == "negative":
            self.last_issuer_negative = max(self.last_issuer_negative, draft.slot.at)
        return True

    def _draft(self, slot: Slot) -> _Draft:
        if slot.kind == "burst_foreign":
            self.foreign_scandals += 1
            choice = FOREIGN_SCANDAL[self.foreign_scandals % len(FOREIGN_SCANDAL)]
            return self._foreign(slot, [choice], "negative")
        if slot.kind == "market":
            if self.rng.random() < FOREIGN_SHARE:
                return self._foreign(slot, FOREIGN_HEADLINES, "neutral")
            return self._market(slot)
        return self._issuer_news(slot)

    def _market(self, slot: Slot) -> _Draft:
        topic = self.rng.choices(TOPICS, MARKET_TOPIC_WEIGHTS)[0]
        sentiment = self.rng.choices(SENTIMENTS, slot.mix)[0]
        template = self.rng.choice(self.market_cells[(topic, sentiment)])
        fixed = [self._company(template)] if template.company_count else []
        headline = self.renderer.render(template, fixed)
        with_body = headline.tickers and self.rng.random() < 0.4
        body = self.rng.choice(BODIES) if with_body else None
        return _Draft(
            slot, self._source(), headline.text, topic, sentiment, headline.tickers, body=body
        )

    def _issuer_news(self, slot: Slot) -> _Draft:
        template = self._issuer_template(slot)
        headline = self.renderer.render(template, [self.issuer])
        bodies = SCANDAL_BODIES if template.sentiment == "negative" else BODIES
        body = self.rng.choice(bodies) if self.rng.random() < 0.4 else None
        return _Draft(
            slot,
            self._source(),
            headline.text,
            template.topic,
            template.sentiment,
            (SCANDAL_TICKER,),
            body=body,
        )

    def _issuer_template(self, slot: Slot) -> Template:
        if slot.kind == "burst":
            pool = self.scandal if self.rng.random() < 0.7 else self.burst_fillers
            return self.rng.choice(pool)
        sentiment = self.rng.choices(SENTIMENTS, slot.mix)[0]
        recent = slot.at - self.last_issuer_negative < timedelta(minutes=75)
        if sentiment == "negative" and slot.calm and recent:
            sentiment = "neutral"
        topics, weights = zip(*ISSUER_TOPIC_WEIGHTS.items(), strict=True)
        topic = self.rng.choices(topics, weights)[0]
        return self.rng.choice(self.issuer_cells[(topic, sentiment)])

    def _foreign(
        self, slot: Slot, choices: Sequence[tuple[str, str, str]], sentiment: str
    ) -> _Draft:
        lang, topic, text = self.rng.choice(choices)
        tickers: tuple[str, ...] = (SCANDAL_TICKER,) if sentiment == "negative" else ()
        if "{co}" in text:
            company = self.rng.choice(self.renderer.companies)
            text, tickers = text.format(co=self.renderer.display_name(company)), (company.ticker,)
        return _Draft(slot, self._source(), text, topic, sentiment, tickers, lang=lang)

    def _company(self, template: Template) -> Company:
        pool = self.renderer.pool(template.pool)
        weights = [3 if c.ticker in MAIN_TICKERS else 1 for c in pool]
        return self.rng.choices(pool, weights)[0]

    def _source(self, other_than: _Draft | None = None) -> str:
        names = [s[0] for s in SOURCES if other_than is None or s[0] != other_than.source]
        weights = [s[3] for s in SOURCES if s[0] in names]
        return self.rng.choices(names, weights)[0]

    def item(self, draft: _Draft, number: int) -> DemoItem:
        """The event as a producer sends it, with the mess real feeds have (ids, formats)."""
        stamp = _timestamp(draft.slot.at, self.rng)
        event: dict[str, object] = {}
        if self.rng.random() >= MISSING_ID_SHARE:
            event["id"] = f"{_source_prefix(draft.source)}-{number:05d}"
        event |= {"source": draft.source, "published_at": stamp, "headline": draft.headline}
        if draft.body:
            event["body"] = draft.body
        if self.rng.random() < 0.92:
            event["url"] = _url(draft, number)
        tickers = self._producer_tickers(draft.tickers)
        if tickers is not None:
            event["tickers"] = tickers
        if draft.lang != "en" or self.rng.random() < 0.9:
            event["lang"] = draft.lang
        event["schema_version"] = "1.1" if self.rng.random() < 0.02 else "1.0"
        if draft.slot.kind == "market":
            _spoil_optional_field(event, number)
        published = datetime.fromisoformat(stamp)
        mentions = self.finder.find(draft.headline) | set(draft.tickers)
        arrival = published + self._delay(draft, number)
        return DemoItem(
            event, published, arrival, draft.topic, draft.sentiment, frozenset(mentions)
        )

    def _producer_tickers(self, tickers: tuple[str, ...]) -> list[str] | None:
        # Producers often send no tickers (the classifier extracts them), or lower case.
        roll = self.rng.random()
        if not tickers:
            return [] if roll < 0.15 else None
        if roll < 0.75:
            return list(tickers)
        return [t.lower() for t in tickers] if roll < 0.85 else None

    def _delay(self, draft: _Draft, number: int) -> timedelta:
        if draft.slot.kind == "market" and number % 613 == 29:
            return timedelta(minutes=self.rng.uniform(15, 25))  # past the lateness horizon
        if self.rng.random() < 0.93:
            return timedelta(0)
        return timedelta(seconds=self.rng.uniform(5, 90))


def _reprintable(draft: _Draft) -> bool:
    # Bad news about the issuer is repeated only inside the burst: outside it, a repeat would
    # push a quiet hour's negative share up, or make a resolved alert fire again.
    issuer_bad_news = SCANDAL_TICKER in draft.tickers and draft.sentiment == "negative"
    return draft.lang == "en" and (draft.slot.kind == "burst" or not issuer_bad_news)


def _spoil_optional_field(event: dict[str, object], number: int) -> None:
    # A few invalid optional fields: the event is kept and the field dropped with a warning.
    if number % 397 == 11:
        event["url"] = "www.northwind.example.com/missing-scheme"
    elif number % 401 == 13:
        event["tickers"] = [*_as_list(event.get("tickers")), "N/A"]
    elif number % 499 == 17:
        event["lang"] = "english"


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _timestamp(at: datetime, rng: Random) -> str:
    roll = rng.random()
    if roll < 0.85:
        return at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if roll < 0.92:
        return at.replace(microsecond=0).isoformat()
    if roll < 0.96:
        return at.astimezone(EASTERN).replace(microsecond=0).isoformat()
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def _source_prefix(source: str) -> str:
    return next(prefix for name, prefix, _, _ in SOURCES if name == source)


def _url(draft: _Draft, number: int) -> str:
    domain = next(domain for name, _, domain, _ in SOURCES if name == draft.source)
    slug = "-".join(re.findall(r"[a-z0-9]+", draft.headline.casefold())[:8])
    return f"https://{domain}/{draft.slot.at:%Y/%m/%d}/{slug}-{number}"


def expected_outcome(items: Sequence[DemoItem]) -> dict[str, object]:
    """What the demo must show: the one ticker alert and when the burst happens."""
    burst = [
        i
        for i in items
        if SCANDAL_TICKER in i.mentions and BURST_START <= i.published_at <= BURST_END
    ]
    return {
        "ticker_alerts": [SCANDAL_TICKER],
        "burst_start": _iso(BURST_START),
        "burst_end": _iso(BURST_END),
        "resolved_by": _iso(RESOLVED_BY),
        "stream_start": _iso(START),
        "stream_end": _iso(END),
        "events": len(items),
        "burst_events": len(burst),
        "other_ticker_max_items_per_hour": OTHER_TICKER_CAP,
        "notes": (
            "Only NVLT may raise a ticker alert: every other ticker has at most "
            f"{OTHER_TICKER_CAP} items in any hour. Market and topic scopes may also fire "
            "during the burst, which dominates a small feed."
        ),
    }


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_demo_stream(
    stream_path: Path = DEFAULT_STREAM, expected_path: Path = DEFAULT_EXPECTED, seed: int = 7
) -> int:
    """Write the stream (JSONL, arrival order) and its expected outcome; returns the count."""
    items = build_demo_stream(seed)
    stream_path.parent.mkdir(parents=True, exist_ok=True)
    with stream_path.open("w", encoding="utf-8", newline="\n") as out:
        for item in items:
            out.write(json.dumps(item.event, ensure_ascii=False) + "\n")
    expected = json.dumps(expected_outcome(items), indent=2, ensure_ascii=False)
    expected_path.write_text(expected + "\n", encoding="utf-8")
    return len(items)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the finsent demo stream.")
    parser.add_argument("--out", type=Path, default=DEFAULT_STREAM)
    parser.add_argument("--expected", type=Path, default=DEFAULT_EXPECTED)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    count = write_demo_stream(args.out, args.expected, args.seed)
    print(f"wrote {count} events to {args.out} and the expected outcome to {args.expected}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
