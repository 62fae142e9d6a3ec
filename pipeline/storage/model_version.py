"""Which model version is current: the one rule that alerting, the views, the API and
`finsent report` follow (docs/operations.md, "Which model is current").

The SQL view `current_model` can read only what is published in `settings_kv`, so a pinned
version (FINSENT_MODEL__CURRENT_VERSION) is published by the alerting step before it reads.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, select

from pipeline.clock import Clock
from pipeline.storage.tables import ModelVersion, settings_kv

log = logging.getLogger(__name__)
CURRENT_MODEL_KEY = "model.current_version"


def current_model_version(conn: Connection, pinned: str | None = None) -> str | None:
    """The pinned version, else the published one (settings_kv), else the newest registered
    model. Readers of the views pass no pin: the views see a pin only once it is published."""
    if pinned:
        return pinned
    published = select(settings_kv.c.value).where(settings_kv.c.key == CURRENT_MODEL_KEY)
    newest = select(ModelVersion.version).order_by(
        ModelVersion.registered_at.desc(), ModelVersion.version.desc()
    )
    return conn.execute(published).scalar() or conn.execute(newest.limit(1)).scalar()


def publish_current_model(engine: Engine, version: str, clock: Clock) -> None:
    """Record the current model version (settings_kv): what the views, and alerting when
    nothing is pinned, read (`finsent model switch`, the demo, a published pin)."""
    with engine.begin() as conn:
        conn.execute(settings_kv.delete().where(settings_kv.c.key == CURRENT_MODEL_KEY))
        conn.execute(
            settings_kv.insert().values(
                key=CURRENT_MODEL_KEY, value=version, updated_at=clock.now()
            )
        )


def publish_pinned_model(engine: Engine, pinned: str | None, clock: Clock) -> None:
    """Make the views read the pinned version, as the alerting step that pins it does."""
    if not pinned:
        return
    with engine.connect() as conn:
        published = current_model_version(conn)
    if published != pinned:
        publish_current_model(engine, pinned, clock)
        log.info("current model version %s published for the views (was %s)", pinned, published)
