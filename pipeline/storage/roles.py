"""The read-only reporting role: created once per cluster, granted by every migration.

Roles are cluster-wide, so a migration never creates one; `finsent db create-roles` does,
idempotently, and grants what the migrations would have granted had the role existed.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, Engine, inspect, text

from pipeline.errors import ConfigError, FinsentError

_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# What analysts may read: the reporting views and the tables without secrets.
REPORTING_RELATIONS: tuple[str, ...] = (
    "current_model",
    "scored_items",
    "sentiment_by_market_hourly",
    "sentiment_by_market_daily",
    "sentiment_by_topic_hourly",
    "sentiment_by_topic_daily",
    "sentiment_by_ticker_hourly",
    "sentiment_by_ticker_daily",
    "top_movers_daily",
    "alert_history",
    "delivery_status",
    "news_items",
    "classifications",
    "ticker_mentions",
    "model_versions",
    "settings_kv",
    "trend_windows",
    "trend_steps",
    "alerts",
    "alert_events",
    "webhook_deliveries",
    "webhook_attempts",
)


def quoted_role(role: str) -> str:
    """The role as a SQL identifier; DDL cannot bind names, so only plain names pass."""
    if not _ROLE_NAME.match(role):
        raise ConfigError(f"reporting role {role!r} must match {_ROLE_NAME.pattern}")
    return f'"{role}"'


def role_exists(conn: Connection, role: str) -> bool:
    found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
    return found.first() is not None


def grant_reporting_access(conn: Connection, role: str) -> list[str]:
    """GRANT SELECT on every reporting relation that exists; returns their names."""
    name = quoted_role(role)
    existing = _relations(conn)
    granted = [r for r in REPORTING_RELATIONS if r in existing]
    conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {name}"))
    for relation in granted:
        conn.execute(text(f"GRANT SELECT ON {relation} TO {name}"))
    return granted


def create_reporting_role(engine: Engine, role: str) -> bool:
    """Create the NOLOGIN read-only role if missing and grant it; True when it was created."""
    if engine.dialect.name != "postgresql":
        raise FinsentError("roles exist only on PostgreSQL; SQLite has no users to create")
    name = quoted_role(role)
    with engine.begin() as conn:
        created = not role_exists(conn, role)
        if created:
            conn.execute(text(f"CREATE ROLE {name} NOLOGIN"))
        # Belt and braces: a session of the role cannot write even where a GRANT slips in.
        conn.execute(text(f"ALTER ROLE {name} SET default_transaction_read_only = on"))
        grant_reporting_access(conn, role)
    return created


def _relations(conn: Connection) -> set[str]:
    inspector = inspect(conn)
    return set(inspector.get_table_names()) | set(inspector.get_view_names())
