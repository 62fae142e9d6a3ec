"""Window evidence: relevance weights ticker windows, copies of one source count once, and
symbols outside the dictionary are judged only with volume; live steps and backtest agree."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, Row, create_engine, event, select
from sqlalchemy.pool import StaticPool

from pipeline.alerting.backtest import Series, run_backtest
from pipeline.alerting.scheduling import StepReport, run_step
from pipeline.alerting.window_evidence import Counted, evidence_observation, window_evidence
from pipeline.clock import SimulatedClock, as_utc
from pipeline.items.identity import content_hash
from pipeline.items.scored import ModelRecord, ScoredEvent, Scores
from pipeline.items.tickers import CompanyMatcher, TickerExtractor
from pipeline.settings import Settings, load_settings
from pipeline.storage.alert_tables import AlertEventRow, AlertRow
from pipeline.storage.results import ResultBatch, TimePolicy, store_batch
from pipeline.storage.tables import Base
from pipeline.storage.trend_tables import TrendWindow
from tests.unit.stream_fakes import event as news_event

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
STEP = timedelta(minutes=5)
MODEL = ModelRecord("relevance-test-v1", "test")
POLICY = TimePolicy(timedelta(minutes=5), timedelta(minutes=10))
CALM = Scores("Markets", 0.9, "neutral", 0.1, 0.8, 0.1, 0.0)
BAD = Scores("Markets", 0.9, "negative", 0.85, 0.1, 0.05, -0.8)
CASHTAGS_ONLY = TickerExtractor(CompanyMatcher(()))
# Nine other dictionary symbols: with AAPL, a ten-ticker item.
SPAM_TAGS = " ".join(f"${s}" for s in ("MSFT", "NVDA", "AMZN", "META", "TSLA", "JPM", "XOM",
                                        "WMT", "KO"))


@pytest.mark.parametrize(
    ("items", "evidence", "negative"),
    [
        pytest.param([Counted("a", 1.0, True), Counted("b", 1.0, False)], 2.0, 1.0,
                     id="two distinct items"),
        pytest.param([Counted("a", 1.0, True)] * 12, 1.0, 1.0, id="twelve copies count once"),
        pytest.param([Counted("a", 0.2, True), Counted("a", 0.8, False)], 0.8, 0.4,
                     id="copies: largest relevance, negative in proportion"),
        pytest.param([Counted(str(n), 1 / 5.5, True) for n in range(11)], 2.0, 2.0,
                     id="eleven ten-ticker items weigh two"),
        pytest.param([], 0.0, 0.0, id="empty window"),
    ],
)
def test_window_evidence(items: list[Counted], evidence: float, negative: float) -> None:
    assert window_evidence(items) == (pytest.approx(evidence), pytest.approx(negative))


@pytest.mark.parametrize(
    ("evidence", "negative", "count", "share"),
    [
        pytest.param(4.4, 2.2, 4, 0.5, id="rounded down"),
        pytest.param(4.5, 4.5, 5, 1.0, id="half rounds up"),
        pytest.param(4.4999999999999, 0.0, 5, 0.0, id="float noise of a half rounds up"),
        pytest.param(0.0, 0.0, 0, 0.0, id="nothing"),
    ],
)
def test_evidence_observation(evidence: float, negative: float, count: int, share: float) -> None:
    seen = evidence_observation(evidence, negative)
    assert (seen.count, seen.negative_share) == (count, pytest.approx(share))


def test_backtest_series_sums_equal_grouping_every_window() -> None:
    rng = random.Random(12)
    series = Series()
    at = 0.0
    for n in range(400):
        at += rng.choice((1.0, 5.0, 30.0, 400.0))
        key = f"k{rng.randrange(25)}" if rng.random() < 0.6 else f"solo{n}"
        series.times.append(at)
        series.counted.append(Counted(key, rng.choice((1.0, 0.5, 1 / 5.5)), rng.random() < 0.4))
    for width in (60.0, 600.0, 3600.0):
        for end in [t + d for t in series.times[::7] for d in (0.0, 0.5)]:
            start = end - width
            inside = [c for t, c in zip(series.times, series.counted, strict=True)
                      if start < t <= end]
            seen = series.observe(_at(start), _at(end))
            grouped = evidence_observation(*window_evidence(inside))
            assert seen.count == grouped.count, (width, end)
            assert seen.negative_share == pytest.approx(grouped.negative_share), (width, end)


def _at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- the acceptance cases, through extraction, storage, the live steps and the backtest ---


@pytest.fixture
def engine() -> Iterator[Engine]:
    import pipeline.storage.alert_tables
    import pipeline.storage.trend_tables  # noqa: F401  - registers the tables on Base

    memory = create_engine("sqlite://", poolclass=StaticPool,
                           connect_args={"check_same_thread": False})
    event.listen(memory, "connect", lambda c, _r: c.execute("PRAGMA foreign_keys=ON"))
    Base.metadata.create_all(memory)
    yield memory
    memory.dispose()


def settings(**alerts: object) -> Settings:
    return load_settings(database={"url": "sqlite://"}, trends={"step_s": 300}, alerts=alerts)


def scored(ident: str, headline: str, when: datetime, scores: Scores, source: str) -> ScoredEvent:
    news = news_event(ident, headline, source=source, published_at=when.isoformat())
    return ScoredEvent(news, content_hash(news), scores, tuple(CASHTAGS_ONLY.mentions(news)))


def calm_history(engine: Engine, symbol: str) -> None:
    """26 h of one neutral single-ticker item every 10 minutes, each from its own source."""
    items = [
        scored(f"calm-{symbol}-{m}", f"${symbol} steady session", NOW - timedelta(minutes=m),
               CALM, f"desk-{m}")
        for m in range(10, 26 * 60, 10)
    ]
    store_batch(engine, ResultBatch(MODEL, items, NOW), POLICY)


Burst = Sequence[tuple[str, str]]  # (headline, source) of each negative item


def replay(engine: Engine, config: Settings, burst: Burst, steps: int = 24) -> list[StepReport]:
    """Live steps every 5 minutes from NOW; half the burst arrives before step 1, half before
    step 2."""
    clock = SimulatedClock(NOW)
    reports = []
    half = len(burst) // 2
    for n in range(steps):
        if n in (1, 2):
            items = [
                scored(f"burst-{n}-{k}", headline, clock.now() - timedelta(seconds=5 * k + 1),
                       BAD, source)
                for k, (headline, source) in enumerate(burst[(n - 1) * half : n * half])
            ]
            store_batch(engine, ResultBatch(MODEL, items, clock.now()), POLICY)
        reports.append(run_step(engine, config, clock))
        clock.advance(STEP)
    return reports


def ticker_alerts(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(AlertRow.scope, AlertRow.state)).all()
    return {scope: state for scope, state in rows if scope.startswith("ticker:")}


def backtest_fired(engine: Engine, config: Settings) -> set[str]:
    events = run_backtest(engine, config, NOW, NOW + STEP * 23)
    return {e.scope for e in events if e.event == "alert.firing"}


def stored_window(engine: Engine, scope: str, end: datetime) -> Row[Any]:
    table = TrendWindow.__table__
    with engine.connect() as conn:
        return conn.execute(
            select(table).where(table.c.scope == scope, table.c.window_end == end)
        ).one()


SINGLE: Burst = [(f"$AAPL guidance cut, story {chr(97 + k)}", f"wire-{k}") for k in range(24)]
TEN_TICKERS: Burst = [(f"{h} {SPAM_TAGS}", source) for h, source in SINGLE]


@pytest.mark.parametrize(
    ("burst", "fires"),
    [
        pytest.param(SINGLE, True, id="single-ticker burst fires"),
        pytest.param(TEN_TICKERS, False, id="relevance discounts a 10-ticker spam item"),
    ],
)
def test_relevance_discounts_a_ten_ticker_spam_item(
    engine: Engine, burst: Burst, fires: bool
) -> None:
    calm_history(engine, "AAPL")
    config = settings()
    replay(engine, config, burst)

    window = stored_window(engine, "ticker:AAPL", NOW + 2 * STEP)
    assert window.count == 4 + 24, "4 calm items in (end - 1 h, end], all 24 of the burst"
    weight = 1.0 if fires else 1 / 5.5
    assert window.evidence == pytest.approx(4 + 24 * weight)
    assert window.negative_evidence == pytest.approx(24 * weight)
    fired = {"ticker:AAPL"} if fires else set()
    assert {s for s, state in ticker_alerts(engine).items() if state != "cancelled"} == fired
    assert {s for s in backtest_fired(engine, config) if s.startswith("ticker:")} == fired


def test_a_near_duplicate_burst_from_one_source_counts_once(engine: Engine) -> None:
    calm_history(engine, "AAPL")
    config = settings()
    copies = [(f"$AAPL guidance cut!! {k}% lower http://t.co/{k}", "bot") for k in range(24)]
    replay(engine, config, copies)

    window = stored_window(engine, "ticker:AAPL", NOW + 2 * STEP)
    assert (window.count, window.negative) == (4 + 24, 24)
    assert (window.evidence, window.negative_evidence) == (pytest.approx(5.0), pytest.approx(1.0))
    assert stored_window(engine, "market", NOW + 2 * STEP).evidence == pytest.approx(5.0)
    assert ticker_alerts(engine) == {}
    assert backtest_fired(engine, config) == set()


def test_backtest_reports_what_the_live_steps_did_with_copies_and_spam(engine: Engine) -> None:
    calm_history(engine, "AAPL")
    calm_history(engine, "MSFT")
    config = settings(hold_steps=1)
    copies = [(f"$MSFT recall widens {k}", "bot") for k in range(8)]
    replay(engine, config, [*SINGLE[:8], *TEN_TICKERS[8:16], *copies] * 2)

    with engine.connect() as conn:
        live = conn.execute(
            select(AlertEventRow.created_at, AlertRow.scope, AlertEventRow.event_type)
            .join(AlertRow, AlertRow.id == AlertEventRow.alert_id)
        ).all()
    replayed = [(e.at, e.scope, e.event) for e in run_backtest(engine, config, NOW, NOW + STEP * 23)]
    assert any(scope == "ticker:AAPL" for _, scope, _ in replayed)
    assert sorted(replayed) == sorted((as_utc(at), scope, kind) for at, scope, kind in live)


@pytest.mark.parametrize(
    ("threshold", "judged"),
    [
        pytest.param(10, False, id="out-of-dictionary symbol below threshold gives no scope"),
        pytest.param(5, True, id="at the threshold it is judged"),
    ],
)
def test_symbols_outside_the_dictionary_need_volume(
    engine: Engine, threshold: int, judged: bool
) -> None:
    calm_history(engine, "AAPL")
    calm_history(engine, "ZZZQ")  # not in the company dictionary
    report = replay(engine, settings(min_count_unlisted=threshold), [], steps=1)[0]
    assert report.statuses["ticker:AAPL"] == "quiet", "a dictionary symbol at the same volume"
    assert ("ticker:ZZZQ" in report.statuses) is judged
