"""Hostile configurations without servers: each is one line, its exit code, and no secret.

The real CLI runs in a subprocess (`python -m workers.cli`), in an empty directory, so the
boundary is tested where a user meets it. Cases that need the real Postgres or Kafka are in
tests/integration/test_cli_errors.py.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.storage.migrate import upgrade
from tests.hostile import (
    CLOSED,
    EX_UNAVAILABLE,
    EX_USAGE,
    SECRET,
    Hostile,
    assert_one_line_failure,
    run_finsent,
)

PG_CLOSED = f"postgresql+psycopg://finsent:{SECRET}@{CLOSED}/finsent"
DB_AWAY = {"FINSENT_DATABASE__URL": PG_CLOSED}
KAFKA_AWAY = {"FINSENT_KAFKA__BOOTSTRAP": CLOSED}
SASL_AWAY = KAFKA_AWAY | {
    "FINSENT_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "FINSENT_KAFKA__SASL_MECHANISM": "PLAIN",
    "FINSENT_KAFKA__SASL_USERNAME": "finsent",
    "FINSENT_KAFKA__SASL_PASSWORD": SECRET,
}
EMPTY_DB = {"FINSENT_DATABASE__URL": "sqlite:///empty.db"}  # a file with no tables
MIGRATED_DB = {"FINSENT_DATABASE__URL": "sqlite:///migrated.db"}
BUSY_PORT = "{busy_port}"  # a port this test listens on
UNAVAILABLE = ("unavailable", "FINSENT_DATABASE__URL")
NO_SCHEMA = ("finsent db upgrade",)
KAFKA_DOWN = ("Kafka", CLOSED, "FINSENT_KAFKA__BOOTSTRAP")


def _case(*args: str, says: tuple[str, ...] = (), **env: str) -> Hostile:
    return Hostile(tuple(args), dict(env), EX_USAGE, says)


def _usage(*args: str, env: dict[str, str], says: tuple[str, ...]) -> Hostile:
    return Hostile(tuple(args), env, EX_USAGE, says)


def _away(*args: str, env: dict[str, str], says: tuple[str, ...]) -> Hostile:
    return Hostile(tuple(args), env, EX_UNAVAILABLE, says)


CASES = [
    # --- settings: a bad value is named, its value (a password) never printed
    pytest.param(
        _case(
            "report",
            FINSENT_DATABASE__URL=f"postgres://u:{SECRET}@127.0.0.1/z",
            says=("database.url", "postgresql+psycopg://"),
        ),
        id="url scheme postgres:// with a password",
    ),
    pytest.param(
        _case(
            "config",
            "show",
            FINSENT_DATABASE__URL=f"mysql://u:{SECRET}@127.0.0.1/z",
            says=("database.url",),
        ),
        id="url scheme mysql",
    ),
    pytest.param(
        _case(
            "alerts",
            "list",
            FINSENT_DATABASE__URL=f"postgresql+nodriver://u:{SECRET}@127.0.0.1/z",
            says=("unknown driver", "FINSENT_DATABASE__URL"),
        ),
        id="url with an unknown driver",
    ),
    pytest.param(
        _case(
            "report",
            FINSENT_DATABASE__URL=f"postgresql://u:{SECRET}@127.0.0.1:port/z",
            says=("database.url", "not a URL"),
        ),
        id="url with a port that is not a number",
    ),
    pytest.param(
        _case(
            "config",
            "show",
            FINSENT_BATCHING__MAX_BATCH_SIZE="lots",
            says=("batching.max_batch_size", "integer"),
        ),
        id="bad int",
    ),
    pytest.param(
        _case("api", FINSENT_API__PORT="70000", FINSENT_API__TOKEN=SECRET, says=("api.port",)),
        id="port out of range beside a token",
    ),
    pytest.param(
        _case(
            "config",
            "show",
            FINSENT_WEBHOOKS__ALLOWED_HOSTS="[a.example",
            says=("invalid settings", "JSON"),
        ),
        id="bad JSON list",
    ),
    pytest.param(
        _case("config", "show", FINSENT_KAFKA="{bootstrap: 1", says=("JSON",)),
        id="section that is not JSON",
    ),
    pytest.param(
        _case("report", FINSENT_LOG_LEVEL="LOUD", says=("log_level",)),
        id="log level not one of the choices",
    ),
    pytest.param(
        _case(
            "config",
            "show",
            FINSENT_DATABSE__URL=f"postgresql://u:{SECRET}@h/d",
            says=("FINSENT_DATABSE__URL", "did you mean FINSENT_DATABASE__URL"),
        ),
        id="unknown settings section",
    ),
    pytest.param(
        _case("config", "show", FINSENT_DATABASE__PASWORD=SECRET, says=("database.pasword",)),
        id="unknown field in a known section",
    ),
    pytest.param(
        _usage(
            "dlq",
            "list",
            env=SASL_AWAY | {"FINSENT_KAFKA__SASL_MECHANISM": "ROT13"},
            says=("kafka.sasl_mechanism",),
        ),
        id="bad SASL mechanism beside a SASL password",
    ),
    # --- the database is away: a closed port on 127.0.0.1, bounded, masked
    pytest.param(_away("report", env=DB_AWAY, says=UNAVAILABLE), id="report, database away"),
    pytest.param(
        _away("alerts", "list", env=DB_AWAY, says=UNAVAILABLE), id="alerts list, database away"
    ),
    pytest.param(
        _away("db", "upgrade", env=DB_AWAY, says=UNAVAILABLE), id="db upgrade, database away"
    ),
    pytest.param(
        _away("endpoints", "list", env=DB_AWAY | {"FINSENT_LOG_FORMAT": "json"}, says=UNAVAILABLE),
        id="endpoints list, database away, json logs",
    ),
    pytest.param(
        _away("backtest", "--from", "7d", env=DB_AWAY, says=UNAVAILABLE),
        id="backtest, database away",
    ),
    pytest.param(
        _away("worker", "schedule", env=DB_AWAY, says=UNAVAILABLE),
        id="worker schedule, database away",
    ),
    pytest.param(
        _away("worker", "notify", env=DB_AWAY | {"FINSENT_LOG_LEVEL": "DEBUG"}, says=UNAVAILABLE),
        id="worker notify, database away, debug logs",
    ),
    # --- no schema: fail fast with the command that creates it
    pytest.param(
        _away("report", env={}, says=("no database file finsent.db", *NO_SCHEMA)),
        id="report outside a configured directory",
    ),
    pytest.param(
        _away("api", env={"FINSENT_API__TOKEN": SECRET}, says=("no database file", *NO_SCHEMA)),
        id="api outside a configured directory",
    ),
    pytest.param(
        _away("alerts", "list", env=EMPTY_DB, says=("no finsent schema", *NO_SCHEMA)),
        id="alerts list, empty schema",
    ),
    pytest.param(
        _away("worker", "schedule", env=EMPTY_DB, says=NO_SCHEMA),
        id="worker schedule, empty schema",
    ),
    pytest.param(
        _away("worker", "notify", env=EMPTY_DB, says=NO_SCHEMA), id="worker notify, empty schema"
    ),
    pytest.param(
        _away("worker", "classify", env=EMPTY_DB | KAFKA_AWAY, says=NO_SCHEMA),
        id="worker classify, empty schema",
    ),
    # --- Kafka is away: a closed port on 127.0.0.1, bounded, its client quiet
    pytest.param(_away("dlq", "list", env=KAFKA_AWAY, says=KAFKA_DOWN), id="dlq list, Kafka away"),
    pytest.param(
        _away("dlq", "list", env=SASL_AWAY | {"FINSENT_LOG_LEVEL": "WARNING"}, says=KAFKA_DOWN),
        id="dlq list, Kafka away, SASL password",
    ),
    pytest.param(
        _away("replay", "events.jsonl", env=KAFKA_AWAY, says=KAFKA_DOWN),
        id="replay, Kafka away",
    ),
    pytest.param(
        _away("topics", "ensure", env=KAFKA_AWAY, says=("Kafka", CLOSED)),
        id="topics ensure, Kafka away",
    ),
    pytest.param(
        _case("replay", "events.jsonl", says=("FINSENT_KAFKA__BOOTSTRAP",)),
        id="replay without a Kafka configured",
    ),
    # --- missing files and bad arguments
    pytest.param(
        _usage("replay", "/missing.jsonl", env=KAFKA_AWAY, says=("/missing.jsonl",)),
        id="replay of a missing file",
    ),
    pytest.param(
        _case("run", "--replay", "/missing.jsonl", says=("--replay", "/missing.jsonl")),
        id="run --replay of a missing file",
    ),
    pytest.param(
        _case("demo", "--stream", "/missing.jsonl", says=("--stream", "/missing.jsonl")),
        id="demo --stream of a missing file",
    ),
    pytest.param(
        _case("demo", "--bundle", "/missing-bundle", says=("/missing-bundle",)),
        id="demo --bundle of a missing directory",
    ),
    pytest.param(
        _case("model", "info", "/missing-bundle", says=("/missing-bundle",)),
        id="model info of a missing bundle",
    ),
    pytest.param(
        _usage(
            "worker",
            "schedule",
            env=MIGRATED_DB | {"FINSENT_ALERTS__RULES_FILE": "/missing.yaml"},
            says=("/missing.yaml",),
        ),
        id="worker schedule, missing rules file",
    ),
    pytest.param(
        _usage(
            "worker",
            "schedule",
            env=MIGRATED_DB | {"FINSENT_METRICS_PORT": BUSY_PORT},
            says=("cannot serve metrics", "FINSENT_METRICS_PORT"),
        ),
        id="worker schedule, metrics port taken",
    ),
    pytest.param(
        _usage(
            "worker",
            "notify",
            env=MIGRATED_DB | {"FINSENT_METRICS_HOST": "203.0.113.7"},
            says=("cannot serve metrics on 203.0.113.7", "FINSENT_METRICS_HOST"),
        ),
        id="worker notify, metrics host not on this machine",
    ),
    pytest.param(
        _usage("dlq", "list", "--since", "yesterday", env=KAFKA_AWAY, says=("not a time",)),
        id="dlq list --since that is not a time",
    ),
]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schema") / "migrated.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="module")
def busy_port() -> Iterator[str]:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        yield str(listening.getsockname()[1])


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_configuration_is_one_line(
    case: Hostile, tmp_path: Path, migrated: Path, busy_port: str
) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()
    (tmp_path / "migrated.db").write_bytes(migrated.read_bytes())
    (tmp_path / "events.jsonl").write_text('{"id": "1"}\n', encoding="utf-8")
    env = {k: v.replace(BUSY_PORT, busy_port) for k, v in case.env.items()}
    outcome = run_finsent(replace(case, env=env), tmp_path)
    assert_one_line_failure(case, outcome)
    assert not (tmp_path / "finsent.db").exists(), "a failed command created a database"


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 25


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        pytest.param(("--version",), "finsent ", id="version"),
        pytest.param(("report", "--help"), "<table|csv|json|png>", id="report format choices"),
        pytest.param(("alerts", "list", "--help"), "pending|firing", id="alert state choices"),
        pytest.param(("--help",), "Stream processing", id="grouped help"),
    ],
)
def test_help_shows_the_version_choices_and_groups(
    args: tuple[str, ...], shown: str, tmp_path: Path
) -> None:
    outcome = run_finsent(replace(Hostile(args), exit_code=0), tmp_path)
    assert outcome.exit_code == 0, outcome.text
    assert shown in outcome.stdout
    assert "produce" not in outcome.stdout
    assert "<bool>" not in outcome.stdout
