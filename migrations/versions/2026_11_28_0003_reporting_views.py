"""reporting views: sentiment by market/topic/ticker per hour and day, movers, alerts, deliveries

Revision ID: 0003_reporting
Revises: 0002_alerts
Create Date: 2026-11-28

Every view reads the current model version from the `current_model` view: the value stored in
`settings_kv` under `model.current_version`, else the most recently registered model. The SQL
is written twice where PostgreSQL and SQLite disagree (time buckets); the columns are the same.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_reporting"
down_revision = "0002_alerts"
branch_labels = None
depends_on = None

CURRENT_MODEL = """
CREATE VIEW current_model AS
SELECT COALESCE(
    (SELECT value FROM settings_kv WHERE key = 'model.current_version'),
    (SELECT version FROM model_versions ORDER BY registered_at DESC, version DESC LIMIT 1)
) AS version
"""

# English items scored by the current model, as the trend windows count them.
SCORED_ITEMS = """
CREATE VIEW scored_items AS
SELECT c.item_id, c.event_time, c.topic, c.topic_confidence, c.sentiment,
       c.p_negative, c.p_neutral, c.p_positive, c.score, c.model_version,
       n.source, n.headline, n.url, n.content_hash, n.reprint_of, n.late
FROM classifications c
JOIN news_items n ON n.id = c.item_id
WHERE c.model_version = (SELECT version FROM current_model) AND n.is_english
"""

MEASURES = """
    COUNT(*) AS items,
    COUNT(DISTINCT s.content_hash) AS distinct_items,
    COUNT(DISTINCT s.source) AS sources,
    SUM(CASE WHEN s.sentiment = 'negative' THEN 1 ELSE 0 END) AS negative,
    SUM(CASE WHEN s.sentiment = 'neutral' THEN 1 ELSE 0 END) AS neutral,
    SUM(CASE WHEN s.sentiment = 'positive' THEN 1 ELSE 0 END) AS positive,
    AVG(CASE WHEN s.sentiment = 'negative' THEN 1.0 ELSE 0.0 END) AS negative_share,
    AVG(CASE WHEN s.sentiment = 'positive' THEN 1.0 ELSE 0.0 END) AS positive_share,
    AVG(s.score) AS mean_score
"""

BUCKETS = {
    "postgresql": {
        "hourly": "date_trunc('hour', s.event_time, 'UTC')",
        "daily": "date_trunc('day', s.event_time, 'UTC')",
    },
    # Same text form as SQLAlchemy's stored SQLite timestamps, so bound times compare right.
    "sqlite": {
        "hourly": "strftime('%Y-%m-%d %H:00:00.000000', s.event_time)",
        "daily": "strftime('%Y-%m-%d 00:00:00.000000', s.event_time)",
    },
}

# name suffix -> (extra key column, join clause)
SCOPES = {
    "market": ("", ""),
    "topic": ("s.topic AS topic, ", ""),
    "ticker": ("m.symbol AS symbol, ", "JOIN ticker_mentions m ON m.item_id = s.item_id"),
}

TOP_MOVERS = """
CREATE VIEW top_movers_daily AS
WITH days AS (
    SELECT bucket, symbol, items, mean_score, negative_share,
           LAG(bucket) OVER w AS previous_bucket,
           LAG(mean_score) OVER w AS previous_mean_score,
           LAG(negative_share) OVER w AS previous_negative_share
    FROM sentiment_by_ticker_daily
    WINDOW w AS (PARTITION BY symbol ORDER BY bucket)
)
SELECT bucket, symbol, items, mean_score, previous_bucket, previous_mean_score,
       mean_score - previous_mean_score AS score_change,
       negative_share - previous_negative_share AS negative_share_change,
       RANK() OVER (
           PARTITION BY bucket ORDER BY ABS(mean_score - previous_mean_score) DESC
       ) AS mover_rank
FROM days
WHERE previous_mean_score IS NOT NULL
"""

ALERT_HISTORY = """
CREATE VIEW alert_history AS
SELECT a.id AS alert_id, a.rule, a.scope, a.scope_kind, a.state, a.severity,
       a.opened_at, a.fired_at, a.resolved_at, a.last_notified_at, a.silenced_until,
       a.window_start, a.window_end, a.value, a.baseline, a.z, a.explanation,
       (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.alert_id = a.id) AS notifications,
       (SELECT COUNT(*) FROM webhook_deliveries d
         WHERE d.alert_id = a.id AND d.status = 'delivered') AS notifications_delivered
FROM alerts a
"""

# Endpoint names only: the endpoints table holds signing secrets the reporting role never sees.
DELIVERY_STATUS = """
CREATE VIEW delivery_status AS
SELECT d.id AS delivery_id, d.webhook_id, d.alert_id, a.scope, d.event_type,
       e.name AS endpoint, d.status, d.attempts, d.created_at, d.next_attempt_at,
       d.delivered_at, d.last_error,
       (SELECT MAX(t.attempted_at) FROM webhook_attempts t WHERE t.delivery_id = d.id)
           AS last_attempt_at
FROM webhook_deliveries d
JOIN webhook_endpoints e ON e.id = d.endpoint_id
JOIN alerts a ON a.id = d.alert_id
"""

VIEWS = (
    "current_model",
    "scored_items",
    *(f"sentiment_by_{scope}_{period}" for scope in SCOPES for period in ("hourly", "daily")),
    "top_movers_daily",
    "alert_history",
    "delivery_status",
)


def upgrade() -> None:
    op.create_table(
        "settings_kv",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_settings_kv"),
    )
    for statement in _view_statements(op.get_bind().dialect.name):
        op.execute(statement)
    _grant_if_role_exists()


def downgrade() -> None:
    for name in reversed(VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    op.drop_table("settings_kv")


def _view_statements(dialect: str) -> list[str]:
    buckets = BUCKETS["postgresql" if dialect == "postgresql" else "sqlite"]
    statements = [CURRENT_MODEL, SCORED_ITEMS]
    for scope, (key, join) in SCOPES.items():
        for period, bucket in buckets.items():
            group_key = "" if not key else ", " + key.split(" AS ")[0]
            statements.append(
                f"CREATE VIEW sentiment_by_{scope}_{period} AS "
                f"SELECT {bucket} AS bucket, {key}{MEASURES} "
                f"FROM scored_items s {join} GROUP BY {bucket}{group_key}"
            )
    return [*statements, TOP_MOVERS, ALERT_HISTORY, DELIVERY_STATUS]


def _grant_if_role_exists() -> None:
    """Roles are cluster-wide: `finsent db create-roles` makes them; a migration only grants."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from pipeline.settings import load_settings
    from pipeline.storage.roles import grant_reporting_access, role_exists

    config = op.get_context().config
    # Tests pass their own role name; everyone else configures it in settings.
    role = config.attributes.get("reporting_role") if config is not None else None
    role = role or load_settings().database.reporting_role
    if role_exists(bind, role):
        grant_reporting_access(bind, role)
