"""The error boundary: which driver errors become which one-line FinsentError, masked."""

from __future__ import annotations

import logging
import sqlite3

import pytest
from kafka.errors import KafkaTimeoutError, NoBrokersAvailable
from sqlalchemy.exc import IntegrityError, NoSuchModuleError, OperationalError, ProgrammingError

from pipeline.boundary import explain, known_secrets, log_failure, mask_secrets
from pipeline.errors import (
    ConfigError,
    DependencyUnavailable,
    FinsentError,
    InputMissing,
    SchemaMissing,
)
from pipeline.settings import load_settings

SECRET = "Boundary-S3cret-91"


class UndefinedTable(Exception):  # noqa: N818 - psycopg's name, which the boundary reads
    """Named like psycopg's: the boundary reads the driver error's type name."""


def _db(kind: type[Exception], message: str, orig: Exception | None = None) -> Exception:
    return kind("SELECT 1", {}, orig or sqlite3.OperationalError(message))


@pytest.mark.parametrize(
    ("error", "expected", "says"),
    [
        pytest.param(
            _db(OperationalError, 'connection to server at "127.0.0.1", port 1 failed'),
            DependencyUnavailable,
            "unavailable",
            id="database refused the connection",
        ),
        pytest.param(
            _db(OperationalError, 'password authentication failed for user "finsent"'),
            DependencyUnavailable,
            "refused the login",
            id="wrong password",
        ),
        pytest.param(
            _db(OperationalError, "no such table: alerts"),
            SchemaMissing,
            "finsent db upgrade",
            id="sqlite without the schema",
        ),
        pytest.param(
            _db(ProgrammingError, "", UndefinedTable('relation "alerts" does not exist')),
            SchemaMissing,
            "finsent db upgrade",
            id="postgres without the schema",
        ),
        pytest.param(
            NoSuchModuleError("Can't load plugin: sqlalchemy.dialects:postgresql.nodriver"),
            ConfigError,
            "unknown driver",
            id="unknown database driver",
        ),
        pytest.param(NoBrokersAvailable(), DependencyUnavailable, "no broker", id="Kafka away"),
        pytest.param(
            KafkaTimeoutError("Failed to update metadata after 60.0 secs."),
            DependencyUnavailable,
            "Failed to update metadata",
            id="Kafka timed out",
        ),
        pytest.param(
            FileNotFoundError(2, "No such file or directory", "/missing.jsonl"),
            InputMissing,
            "/missing.jsonl",
            id="missing file",
        ),
        pytest.param(ConfigError("as raised"), ConfigError, "as raised", id="already ours"),
    ],
)
def test_expected_failures_become_finsent_errors(
    error: Exception, expected: type[FinsentError], says: str
) -> None:
    explained = explain(error)
    assert type(explained) is expected
    assert says in str(explained)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(_db(IntegrityError, "UNIQUE constraint failed"), id="integrity error"),
        pytest.param(KeyError("bug"), id="a bug"),
        pytest.param(FileNotFoundError("no file name"), id="OS error without a file"),
    ],
)
def test_bugs_keep_their_traceback(error: Exception) -> None:
    assert explain(error) is None


def test_exit_codes_tell_usage_from_unavailable() -> None:
    assert (ConfigError.exit_code, InputMissing.exit_code) == (2, 2)
    assert (DependencyUnavailable.exit_code, SchemaMissing.exit_code) == (69, 69)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        pytest.param(
            f"postgresql+psycopg://u:{SECRET}@h:5432/db",
            "postgresql+psycopg://u:***@h:5432/db",
            id="database URL",
        ),
        pytest.param(f"amqp://:{SECRET}@host", "amqp://:***@host", id="URL without a user"),
        pytest.param(f"token {SECRET} rejected", "token *** rejected", id="known secret"),
        pytest.param("port 5432 refused", "port 5432 refused", id="nothing to mask"),
    ],
)
def test_mask_secrets(text: str, masked: str) -> None:
    assert mask_secrets(text, {SECRET}) == masked


def test_known_secrets_come_from_settings_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINSENT_API__TOKEN", f"token-{SECRET}")
    monkeypatch.setenv("FINSENT_DATABASE__URL", f"postgresql+psycopg://u:{SECRET}@h/db")
    secrets = known_secrets(load_settings())
    assert {SECRET, f"token-{SECRET}"} <= secrets


@pytest.mark.parametrize(
    ("error", "level", "traceback"),
    [
        pytest.param(
            _db(OperationalError, f"connection to postgresql://u:{SECRET}@h failed"),
            "WARNING",
            False,
            id="database away: one line",
        ),
        pytest.param(
            _db(OperationalError, "no such table: alerts"), "WARNING", False, id="schema gone"
        ),
        pytest.param(KeyError("bug"), "ERROR", True, id="a bug: its traceback"),
    ],
)
def test_a_worker_logs_an_outage_in_one_line(
    error: Exception, level: str, traceback: bool, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("workers.test")
    with caplog.at_level(logging.WARNING, logger="workers.test"):
        log_failure(log, "step failed", error)
    [record] = caplog.records
    assert (record.levelname, record.exc_info is not None) == (level, traceback)
    assert SECRET not in caplog.text
