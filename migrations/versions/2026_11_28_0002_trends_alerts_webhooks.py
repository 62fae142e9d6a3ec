"""trend windows, scheduler steps, alerts + outbox, webhook endpoints, deliveries, attempts

Revision ID: 0002_alerts
Revises: 0001_core
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_alerts"
down_revision = "0001_core"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
OPEN = sa.text("state IN ('pending', 'firing')")


def upgrade() -> None:
    _trend_tables()
    _alert_tables()
    _webhook_tables()
    op.create_index(
        "ix_classifications_version_processed",
        "classifications",
        ["model_version", "processed_at"],
    )
    op.create_index("ix_ticker_mentions_event_time", "ticker_mentions", ["event_time"])
    # Retention deletes news items; without it each delete scans for reprints to unlink.
    op.create_index("ix_news_items_reprint_of", "news_items", ["reprint_of"])


def downgrade() -> None:
    op.drop_index("ix_news_items_reprint_of", table_name="news_items")
    op.drop_index("ix_ticker_mentions_event_time", table_name="ticker_mentions")
    op.drop_index("ix_classifications_version_processed", table_name="classifications")
    for table in (
        "webhook_attempts",
        "webhook_deliveries",
        "webhook_endpoints",
        "alert_events",
        "alerts",
        "trend_steps",
        "trend_windows",
    ):
        op.drop_table(table)


def _trend_tables() -> None:
    op.create_table(
        "trend_windows",
        sa.Column("scope", sa.String(80), nullable=False),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("scope_kind", sa.String(8), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("sources", sa.Integer, nullable=False),
        sa.Column("negative", sa.Integer, nullable=False),
        sa.Column("positive", sa.Integer, nullable=False),
        sa.Column("negative_share", sa.Float, nullable=False),
        sa.Column("positive_share", sa.Float, nullable=False),
        sa.Column("mean_score", sa.Float),
        sa.Column("reprint_adjusted", sa.Integer, nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("computed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("scope", "window_end", name="pk_trend_windows"),
    )
    op.create_index("ix_trend_windows_window_end", "trend_windows", ["window_end"])
    op.create_table(
        "trend_steps",
        sa.Column("step_at", TS, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("computed_at", TS, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("windows", sa.Integer, nullable=False),
        sa.Column("worker", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("step_at", name="pk_trend_steps"),
    )


def _alert_tables() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(80), nullable=False),
        sa.Column("scope_kind", sa.String(8), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("fired_at", TS),
        sa.Column("resolved_at", TS),
        sa.Column("last_notified_at", TS),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("held_steps", sa.Integer, nullable=False),
        sa.Column("clear_steps", sa.Integer, nullable=False),
        sa.Column("silenced_until", TS),
        sa.Column("window_start", TS, nullable=False),
        sa.Column("window_end", TS, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("baseline", sa.Float, nullable=False),
        sa.Column("z", sa.Float, nullable=False),
        sa.Column("explanation", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alerts"),
    )
    op.create_index(
        "uq_alerts_open_rule_scope",
        "alerts",
        ["rule", "scope"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )
    op.create_index("ix_alerts_state", "alerts", ["state"])
    op.create_index("ix_alerts_opened_at", "alerts", ["opened_at"])
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(24), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_alert_events"),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], ondelete="CASCADE",
            name="fk_alert_events_alert_id_alerts",
        ),
    )
    op.create_index("ix_alert_events_alert_id", "alert_events", ["alert_id"])


def _webhook_tables() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.String(200), nullable=False),
        sa.Column("previous_secret", sa.String(200)),
        sa.Column("previous_secret_until", TS),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("disabled_reason", sa.Text),
        sa.Column("scope_kinds", sa.JSON, nullable=False),
        sa.Column("event_types", sa.JSON, nullable=False),
        sa.Column("min_severity", sa.String(10), nullable=False),
        sa.Column("body_format", sa.String(10), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_endpoints"),
        sa.UniqueConstraint("name", name="uq_webhook_endpoints_name"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Integer, nullable=False),
        sa.Column("alert_id", sa.Integer, nullable=False),
        sa.Column("endpoint_id", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(24), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("delivered_at", TS),
        sa.Column("last_error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_deliveries"),
        sa.UniqueConstraint("webhook_id", name="uq_webhook_deliveries_webhook_id"),
        sa.ForeignKeyConstraint(
            ["event_id"], ["alert_events.id"], ondelete="CASCADE",
            name="fk_webhook_deliveries_event_id_alert_events",
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], ondelete="CASCADE",
            name="fk_webhook_deliveries_alert_id_alerts",
        ),
        sa.ForeignKeyConstraint(
            ["endpoint_id"], ["webhook_endpoints.id"], ondelete="CASCADE",
            name="fk_webhook_deliveries_endpoint_id_webhook_endpoints",
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index("ix_webhook_deliveries_alert_id", "webhook_deliveries", ["alert_id"])
    op.create_index("ix_webhook_deliveries_endpoint_id", "webhook_deliveries", ["endpoint_id"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("outcome", sa.String(12), nullable=False),
        sa.Column("error", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_attempts"),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["webhook_deliveries.id"], ondelete="CASCADE",
            name="fk_webhook_attempts_delivery_id_webhook_deliveries",
        ),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])
