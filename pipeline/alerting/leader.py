"""The scheduler's leader: one process computes steps, chosen by a Postgres advisory lock."""

from __future__ import annotations

import contextlib
import logging
import os
import socket

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from pipeline import alert_metrics
from pipeline.storage.db import db_error_reason, is_postgres
from pipeline.storage.partitions import forget_partitions

log = logging.getLogger(__name__)

LOCK_KEY = 0x66696E73  # "fins": the scheduler's advisory lock id


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaderLock:
    """A session-level advisory lock on a dedicated connection, re-checked on every call.

    On SQLite (embedded mode, one process) every caller is the leader.
    """

    def __init__(self, engine: Engine, key: int = LOCK_KEY) -> None:
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None
        self._held = False
        self._last_error: str | None = None

    def ensure(self) -> bool:
        """True when this process holds the lock now (acquiring it if it is free)."""
        if not is_postgres(self._engine):
            return True
        was_held = self._held
        try:
            self._held = self._still_held() if self._held else self._try()
            self._last_error = None
        except DBAPIError as e:
            self._drop()
            self._report(e)
        if self._held and not was_held:
            forget_partitions(self._engine)  # an earlier leader may have dropped some
        if self._held != was_held:
            log.info(
                "scheduler leadership %s by %s (advisory lock %d)",
                "acquired" if self._held else "lost",
                worker_name(),
                self._key,
            )
        alert_metrics.LEADER.set(1 if self._held else 0)
        return self._held

    def _report(self, error: DBAPIError) -> None:
        """Say why leadership failed (a wrong password, the server down) once per cause."""
        reason = db_error_reason(error)
        if reason != self._last_error:
            log.warning("leader lock unavailable, not leading: %s", reason)
            self._last_error = reason

    def release(self) -> None:
        if self._held:
            log.info("scheduler leadership released by %s", worker_name())
        if self._conn is not None and self._held:
            # a failure means the session is gone, and the lock with it
            with contextlib.suppress(DBAPIError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
        self._drop()
        alert_metrics.LEADER.set(0)

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _try(self) -> bool:
        query = text("SELECT pg_try_advisory_lock(:k)")
        return bool(self._connection().execute(query, {"k": self._key}).scalar())

    def _still_held(self) -> bool:
        query = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND pid = pg_backend_pid() AND objid = :low"
        )
        low = self._key & 0xFFFFFFFF
        return bool(self._connection().execute(query, {"low": low}).scalar())

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):  # a broken connection is discarded anyway
                self._conn.close()
        self._conn = None
        self._held = False
