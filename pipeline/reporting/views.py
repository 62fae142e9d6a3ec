"""The reporting views (migration 0003_reporting) as typed SQLAlchemy tables, for queries only.

They live in their own MetaData so that `create_all` never turns a view into a table.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, Integer, MetaData, String, Table, Text

VIEWS = MetaData()
_TS = DateTime(timezone=True)


def _measures() -> list[Column[object]]:
    return [
        Column("items", Integer),
        Column("distinct_items", Integer),
        Column("sources", Integer),
        Column("negative", Integer),
        Column("neutral", Integer),
        Column("positive", Integer),
        Column("negative_share", Float),
        Column("positive_share", Float),
        Column("mean_score", Float),
    ]


def _sentiment_view(scope: str, period: str, key: str | None) -> Table:
    keys = [Column(key, String(64))] if key else []
    return Table(
        f"sentiment_by_{scope}_{period}", VIEWS, Column("bucket", _TS), *keys, *_measures()
    )


current_model = Table("current_model", VIEWS, Column("version", String(64)))


scored_items = Table(
    "scored_items",
    VIEWS,
    Column("item_id", String(256)),
    Column("event_time", _TS),
    Column("topic", String(64)),
    Column("topic_confidence", Float),
    Column("sentiment", String(16)),
    Column("p_negative", Float),
    Column("p_neutral", Float),
    Column("p_positive", Float),
    Column("score", Float),
    Column("model_version", String(64)),
    Column("source", String(200)),
    Column("headline", Text),
    Column("url", Text),
    Column("content_hash", String(64)),
    Column("reprint_of", String(256)),
)

SENTIMENT = {
    (scope, period): _sentiment_view(scope, period, key)
    for scope, key in (("market", None), ("topic", "topic"), ("ticker", "symbol"))
    for period in ("hourly", "daily")
}

top_movers_daily = Table(
    "top_movers_daily",
    VIEWS,
    Column("bucket", _TS),
    Column("symbol", String(12)),
    Column("items", Integer),
    Column("mean_score", Float),
    Column("previous_bucket", _TS),
    Column("previous_mean_score", Float),
    Column("score_change", Float),
    Column("negative_share_change", Float),
    Column("mover_rank", Integer),
)

alert_history = Table(
    "alert_history",
    VIEWS,
    Column("alert_id", Integer),
    Column("rule", String(64)),
    Column("scope", String(80)),
    Column("scope_kind", String(8)),
    Column("state", String(12)),
    Column("severity", String(10)),
    Column("opened_at", _TS),
    Column("fired_at", _TS),
    Column("resolved_at", _TS),
    Column("last_notified_at", _TS),
    Column("silenced_until", _TS),
    Column("window_start", _TS),
    Column("window_end", _TS),
    Column("value", Float),
    Column("baseline", Float),
    Column("z", Float),
    Column("explanation", JSON),
    Column("notifications", Integer),
    Column("notifications_delivered", Integer),
)

delivery_status = Table(
    "delivery_status",
    VIEWS,
    Column("delivery_id", Integer),
    Column("webhook_id", String(64)),
    Column("alert_id", Integer),
    Column("scope", String(80)),
    Column("event_type", String(24)),
    Column("endpoint", String(100)),
    Column("status", String(12)),
    Column("attempts", Integer),
    Column("created_at", _TS),
    Column("next_attempt_at", _TS),
    Column("delivered_at", _TS),
    Column("last_error", Text),
    Column("last_attempt_at", _TS),
)
