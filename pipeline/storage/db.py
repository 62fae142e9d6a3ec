"""Engines and sessions, made from settings and passed in; never created at import time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from pipeline.errors import SchemaMissing
from pipeline.settings import DatabaseSettings

_UPGRADE_HINT = "run `finsent db upgrade` (or set FINSENT_DATABASE__URL)"


def make_engine(settings: DatabaseSettings, **kwargs: Any) -> Engine:
    """An engine for the configured URL; SQLite gets WAL and foreign keys on."""
    url = make_url(settings.url.get_secret_value())
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    options = f"-c statement_timeout={settings.statement_timeout_ms}"
    return create_engine(
        url,
        pool_size=settings.pool_size,
        pool_pre_ping=True,
        connect_args={"options": options, "connect_timeout": 10},
        **kwargs,
    )


def open_database(settings: DatabaseSettings) -> Engine:
    """An engine on an existing, migrated database: fails fast, and never creates a SQLite
    file as a side effect of reading. Connection errors surface as the driver's own."""
    require_database_file(settings)
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            migrated = inspect(conn).has_table("alembic_version")
    except BaseException:
        engine.dispose()
        raise
    if not migrated:
        engine.dispose()
        raise SchemaMissing(
            f"database {display_url(settings)} has no finsent schema: {_UPGRADE_HINT}"
        )
    return engine


def require_database_file(settings: DatabaseSettings) -> None:
    """A SQLite database must exist already: connecting would create an empty one."""
    url = make_url(settings.url.get_secret_value())
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file and file != ":memory:" and not Path(file).is_file():
        raise SchemaMissing(f"no database file {file}: {_UPGRADE_HINT}")


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def display_url(settings: DatabaseSettings) -> str:
    """The URL with its password masked, for logs and `config show`."""
    return make_url(settings.url.get_secret_value()).render_as_string(hide_password=True)


def db_error_reason(error: DBAPIError) -> str:
    """The driver's own first line (e.g. "password authentication failed for user …"):
    readable, and free of the statement and its parameters that SQLAlchemy appends."""
    return str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
