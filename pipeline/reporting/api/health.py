"""Readiness: can this process reach its database and Kafka, and does it know its model?"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from pipeline.boundary import known_secrets, mask_secrets
from pipeline.settings import KafkaSettings, ModelSettings
from pipeline.storage.db import db_error_reason
from pipeline.storage.model_version import current_model_version

NO_SCHEMA = "no finsent schema: run `finsent db upgrade`"


class CheckResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    ok: bool
    detail: str


class ReadinessCheck(Protocol):
    """One dependency the API needs; `check` must return within a few seconds, never raise."""

    name: str

    def check(self) -> CheckResult: ...


class DatabaseCheck:
    name = "database"

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def check(self) -> CheckResult:
        try:
            with self._engine.connect() as conn:
                migrated = inspect(conn).has_table("alembic_version")
        except SQLAlchemyError as e:
            return CheckResult(ok=False, detail=database_problem(e))
        if not migrated:
            return CheckResult(ok=False, detail=NO_SCHEMA)
        return CheckResult(ok=True, detail=self._engine.dialect.name)


class KafkaCheck:
    """A TCP connection to any bootstrap broker; embedded mode has no Kafka to reach."""

    name = "kafka"

    def __init__(self, settings: KafkaSettings, timeout_s: float = 2.0) -> None:
        self._settings = settings
        self._timeout_s = timeout_s

    def check(self) -> CheckResult:
        if self._settings.embedded:
            return CheckResult(ok=True, detail="embedded (no Kafka configured)")
        for server in self._settings.client_options()["bootstrap_servers"]:
            host, _, port = server.rpartition(":")
            try:
                socket.create_connection((host.strip("[]"), int(port)), self._timeout_s).close()
            except (OSError, ValueError):
                continue
            return CheckResult(ok=True, detail=f"reached {server}")
        return CheckResult(ok=False, detail="no bootstrap broker reachable")


class ModelCheck:
    """A configured bundle must exist; otherwise the database must know the current model."""

    name = "model"

    def __init__(self, settings: ModelSettings, engine: Engine) -> None:
        self._settings = settings
        self._engine = engine

    def check(self) -> CheckResult:
        if self._settings.bundle is not None:
            manifest = Path(self._settings.bundle) / "manifest.json"
            return CheckResult(ok=manifest.is_file(), detail=f"bundle {self._settings.bundle}")
        try:
            with self._engine.connect() as conn:
                version = current_model_version(conn)
        except SQLAlchemyError as e:
            return CheckResult(ok=False, detail=database_problem(e))
        if version is None:
            return CheckResult(ok=False, detail="no model has scored any item yet")
        return CheckResult(ok=True, detail=f"current version {version}")


def database_problem(error: SQLAlchemyError) -> str:
    """What a readiness check says about a database error: short, the password masked."""
    if not isinstance(error, DBAPIError):
        return type(error).__name__
    reason = db_error_reason(error)
    if "no such table" in reason or (
        reason.startswith('relation "') and "does not exist" in reason
    ):
        return NO_SCHEMA
    return mask_secrets(f"unreachable: {reason}", known_secrets())
