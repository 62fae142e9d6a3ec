"""Mention relevance and copy fingerprints on the real PostgreSQL: stored at ingest, weighed by
the window statement, and migration 0006 up and down keeping old rows' meaning (and SQLite)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from pipeline.alerting.trends import WindowSpec, compute_windows
from pipeline.items.identity import content_hash, copy_fingerprint
from pipeline.items.scored import ModelRecord, ScoredEvent, Scores
from pipeline.items.tickers import CompanyMatcher, TickerExtractor
from pipeline.settings import load_settings
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import downgrade, upgrade
from pipeline.storage.partitions import ensure_partitions
from pipeline.storage.results import ResultBatch, TimePolicy, store_batch
from pipeline.storage.tables import NewsItem, TickerMention
from pipeline.storage.trend_tables import TrendWindow
from tests.unit.stream_fakes import event

T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
MODEL = ModelRecord("relevance-pg-v1", "test")
BAD = Scores("Markets", 0.9, "negative", 0.85, 0.1, 0.05, -0.8)
SPAM = "$AAPL crash $MSFT $NVDA $AMZN $META $TSLA $JPM $XOM $WMT $KO"
HEADLINES = {
    "single": ("$AAPL guidance cut", "wire"),
    "spam": (SPAM, "spammer"),
    "copy-1": ("$AAPL to zero!!! 1", "bot"),
    "copy-2": ("$aapl to zero 2 http://t.co/x", "bot"),
    "copy-3": ("$AAPL TO ZERO 3", "bot"),
}


def test_ingest_stores_relevance_and_fingerprints_and_windows_weigh_them(pg_url: str) -> None:
    upgrade(pg_url)
    settings = load_settings(database={"url": pg_url})
    engine = make_engine(settings.database)
    extractor = TickerExtractor(CompanyMatcher(()))
    items = []
    for n, (ident, (headline, source)) in enumerate(HEADLINES.items()):
        news = event(ident, headline, source=source,
                     published_at=(T0 - timedelta(minutes=n + 1)).isoformat())
        items.append(ScoredEvent(news, content_hash(news), BAD, tuple(extractor.mentions(news))))
    store_batch(engine, ResultBatch(MODEL, items, T0), TimePolicy(timedelta(0), timedelta(0)))

    with engine.connect() as conn:
        mentions = dict(conn.execute(
            select(TickerMention.item_id, TickerMention.relevance)
            .where(TickerMention.symbol == "AAPL")
        ).all())
        prints = dict(conn.execute(select(NewsItem.id, NewsItem.fingerprint)).all())
    assert mentions["single"] == 1.0
    assert mentions["spam"] == pytest.approx(1 / 5.5)
    assert prints["single"] == copy_fingerprint(items[0].event)
    assert prints["copy-1"] == prints["copy-2"] == prints["copy-3"] != prints["single"]

    ensure_partitions(engine, T0, T0)  # what a scheduler step does first
    with engine.begin() as conn:
        spec = WindowSpec.of(settings.trends, settings.events)
        compute_windows(conn, spec, MODEL.version, [T0], T0)
    with engine.connect() as conn:
        window = conn.execute(
            select(TrendWindow.count, TrendWindow.evidence, TrendWindow.negative_evidence)
            .where(TrendWindow.scope == "ticker:AAPL", TrendWindow.window_end == T0)
        ).one()
    engine.dispose()
    assert window.count == 5
    assert window.evidence == pytest.approx(1 + 1 / 5.5 + 1), "single, spam, the copies once"
    assert window.negative_evidence == pytest.approx(window.evidence)


@pytest.fixture(params=["postgresql", "sqlite"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/relevance.db"
    return str(request.getfixturevalue("pg_url"))


def test_migration_0006_keeps_old_rows_meaning_and_goes_down(any_url: str) -> None:
    upgrade(any_url, "0005_dlq_replays")
    engine = create_engine(any_url)
    with engine.begin() as conn:
        for statement in OLD_ROWS:
            conn.execute(text(statement), {"t": T0})
    upgrade(any_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT relevance FROM ticker_mentions")).scalar_one() == 1.0
        assert conn.execute(text("SELECT fingerprint FROM news_items")).scalar_one() is None
        window = conn.execute(text("SELECT evidence, negative_evidence FROM trend_windows")).one()
    assert tuple(window) == (7.0, 3.0), "an old window's evidence is its count"

    downgrade(any_url, "0005_dlq_replays")
    columns = {t: {c["name"] for c in inspect(engine).get_columns(t)}
               for t in ("ticker_mentions", "news_items", "trend_windows")}
    engine.dispose()
    assert "relevance" not in columns["ticker_mentions"]
    assert "fingerprint" not in columns["news_items"]
    assert not {"evidence", "negative_evidence"} & columns["trend_windows"]
    upgrade(any_url)


OLD_ROWS = (
    "INSERT INTO news_items (id, source, published_at, event_time, processed_at, headline,"
    " lang, is_english, content_hash, late, schema_version)"
    " VALUES ('old', 'wire', :t, :t, :t, '$AAPL old news', 'en', true, 'h', false, '1.0')",
    "INSERT INTO ticker_mentions (item_id, symbol, origin, event_time)"
    " VALUES ('old', 'AAPL', 'cashtag', :t)",
    "INSERT INTO trend_windows (scope, window_end, window_start, scope_kind, count, sources,"
    " negative, positive, negative_share, positive_share, mean_score, reprint_adjusted,"
    " model_version, computed_at)"
    " VALUES ('ticker:AAPL', :t, :t, 'ticker', 7, 2, 3, 1, 0.43, 0.14, -0.2, 7, 'v', :t)",
)
