"""Alembic environment: the URL comes from finsent settings (or the caller), never alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

from pipeline.settings import get_settings
from pipeline.storage.partitions import is_partition
from pipeline.storage.tables import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or get_settings().database.url.get_secret_value()


def run_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = engine_from_config(
        {"sqlalchemy.url": url}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        _run(connection)


def _modelled(obj: object, name: str | None, type_: str, reflected: bool, _other: object) -> bool:
    """Autogenerate leaves the window partitions alone: the project makes them at run time."""
    return not (type_ == "table" and reflected and name is not None and is_partition(name))


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]  # alembic types it as Connection
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
        include_object=_modelled,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
