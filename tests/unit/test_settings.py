"""Settings: defaults, env names, validation errors, and secrets that never print."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from pipeline.clock import SimulatedClock
from pipeline.errors import ConfigError
from pipeline.settings import (
    KafkaSettings,
    Settings,
    describe_settings,
    load_settings,
    setting_env_names,
)
from workers.cli import app, main

SECRETS = {
    "FINSENT_DATABASE__URL": "postgresql+psycopg://finsent:hunter2-db@db:5432/finsent",
    "FINSENT_KAFKA__SASL_PASSWORD": "hunter2-kafka",
    "FINSENT_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
    "FINSENT_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
    "FINSENT_KAFKA__SASL_USERNAME": "svc",
    "FINSENT_API__TOKEN": "hunter2-api",
}


def test_defaults_are_embedded_mode() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]  # pydantic-settings kwarg
    assert settings.kafka.embedded
    assert settings.database.url.get_secret_value().startswith("sqlite")
    assert settings.kafka.partitions == 6
    assert settings.events.max_event_bytes == 262_144


def test_every_setting_has_env_name_and_doc() -> None:
    rows = describe_settings()
    assert len(rows) > 60
    assert all(row.env.startswith("FINSENT_") and row.doc for row in rows)
    assert "FINSENT_KAFKA__BOOTSTRAP" in setting_env_names()
    assert "FINSENT_ALERTS__Z_THRESHOLD" in setting_env_names()


def test_nested_env_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_KAFKA__BOOTSTRAP", "127.0.0.1:9092")
    monkeypatch.setenv("FINSENT_BATCHING__MAX_BATCH_SIZE", "32")
    settings = load_settings()
    assert not settings.kafka.embedded
    assert settings.batching.max_batch_size == 32


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        pytest.param(
            "FINSENT_BATCHING__MAX_BATCH_SIZE", "0", "batching.max_batch_size", id="zero batch"
        ),
        pytest.param(
            "FINSENT_BATCHING__MAX_BATCH_SIZE", "many", "batching.max_batch_size", id="not int"
        ),
        pytest.param("FINSENT_DATABASE__URL", "mysql://x", "postgresql", id="unsupported db"),
        pytest.param("FINSENT_MODEL__PROVIDER", "tpu", "model.provider", id="unknown provider"),
        pytest.param(
            "FINSENT_TRENDS__STEP_S", "7", "multiple of trends.step_s", id="step not dividing"
        ),
        pytest.param(
            "FINSENT_KAFKA__SECURITY_PROTOCOL", "SASL_SSL", "sasl_mechanism", id="sasl w/o mech"
        ),
        pytest.param(
            "FINSENT_ALERTS__MIN_NEGATIVE_SHARE", "1.5", "min_negative_share", id="share > 1"
        ),
        pytest.param(
            "FINSENT_DATABSE__URL", "sqlite://", "did you mean FINSENT_DATABASE__URL", id="typo"
        ),
        pytest.param(
            "FINSENT_TESTING__COMMIT_ORDER",
            "offsets_first",
            r"no longer a setting: faults are injected by the test suite only",
            id="a test fault left in the environment",
        ),
    ],
)
def test_bad_config_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, message: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_kafka_security_reaches_client_options(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FINSENT_KAFKA__BOOTSTRAP", "b1:9093,b2:9093")
    options = load_settings().kafka.client_options()
    assert options["bootstrap_servers"] == ["b1:9093", "b2:9093"]
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_password"] == "hunter2-kafka"


@pytest.mark.parametrize("fmt", ["table", "env"])
def test_config_show_never_prints_a_secret(monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["config", "show", "--format", fmt])
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.output
    assert "SCRAM-SHA-512" in result.output


def test_cli_help_lists_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("config", "topics", "db"):
        assert command in result.output


def test_simulated_clock_only_moves_forward() -> None:
    start = datetime(2026, 3, 9, tzinfo=UTC)
    clock = SimulatedClock(start)
    assert clock.advance(timedelta(seconds=30)) == start + timedelta(seconds=30)
    assert clock.set(start) == start + timedelta(seconds=30)
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(timedelta(seconds=-1))


def test_consumers_accept_the_largest_fetch_response_their_limits_allow() -> None:
    # kafka-python refuses a frame above receive_message_max_bytes and retries it forever:
    # with its 1 MB default a 6-partition backlog stalls the worker.
    kafka = KafkaSettings(bootstrap="127.0.0.1:9092", max_message_bytes=2 * 1_048_576)
    options = kafka.fetch_options()
    assert options["max_partition_fetch_bytes"] == 2 * 1_048_576
    assert options["receive_message_max_bytes"] > (
        options["fetch_max_bytes"] + options["max_partition_fetch_bytes"]
    )


SECRET_URLS = [
    pytest.param("postgres://u:pw-9q-secret@127.0.0.1:1/z", id="unsupported scheme"),
    pytest.param("mysql://u:pw-9q-secret@127.0.0.1:1/z", id="another database"),
]


@pytest.mark.parametrize("url", SECRET_URLS)
@pytest.mark.parametrize("command", [["report"], ["config", "show"], ["alerts", "list"]])
def test_a_rejected_database_url_is_one_line_without_its_password(
    url: str,
    command: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Through the entry point's own boundary, as `finsent <command>` runs it.
    monkeypatch.setenv("FINSENT_DATABASE__URL", url)
    monkeypatch.setattr(sys, "argv", ["finsent", *command])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert exited.value.code == 2, output
    assert "pw-9q-secret" not in output
    assert "Traceback" not in output
    assert "database.url" in output
    assert len(output.strip().splitlines()) <= 2, output


def test_settings_error_carries_no_chained_validation_error() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(database={"url": "postgres://u:pw-9q-secret@h/db"})
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    assert "pw-9q-secret" not in str(caught.value)
