"""Security on the real servers: secrets stay hidden, webhook targets are checked, hostile
text is data (never SQL), the reporting role cannot write, the API wants its token, and
Kafka SASL/SSL settings reach the client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from pipeline.consumer.topics import ensure_topics
from pipeline.delivery.endpoints import add_endpoint
from pipeline.delivery.webhooks import check_target
from pipeline.errors import ConfigError, FinsentError
from pipeline.model.bundle import ModelBundle
from pipeline.reporting.api.app import create_app
from pipeline.reporting.api.health import DatabaseCheck
from pipeline.settings import DatabaseSettings, KafkaSettings, WebhookSettings
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import upgrade
from tests.chaos.harness import has_provider
from tests.chaos.observe import await_topic
from tests.chaos.stack import REPO, Service, process_env, worker_settings
from tests.servers import delete_topics_with_prefix, libpq_url, topic_prefix

DB_PASSWORD = f"pw-{uuid.uuid4().hex[:12]}-dbsecret"
WRONG_PASSWORD = f"pw-{uuid.uuid4().hex[:12]}-wrong"
SASL_PASSWORD = f"sasl-{uuid.uuid4().hex[:12]}-secret"
API_TOKEN = f"tok-{uuid.uuid4().hex}"
SECRETS = (DB_PASSWORD, WRONG_PASSWORD, SASL_PASSWORD, API_TOKEN)
HOSTILE = (
    "'; DROP TABLE news_items; --",
    'Robert"); DELETE FROM classifications; --',
    "%s %(id)s $1 :name {0}",
    "<script>alert('x')</script> \u202eevil",
    "ünïcødé 🚀 \\ back\\slash",
)


@dataclass(frozen=True)
class SecretDatabase:
    """A fresh database owned by a login role whose password is a recognisable secret."""

    url: str
    role: str

    def with_password(self, password: str) -> str:
        return make_url(self.url).set(password=password).render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def secret_db(admin_pg_url: str) -> Iterator[SecretDatabase]:
    role, name = f"sec_{uuid.uuid4().hex[:10]}", f"finsent_sec_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(admin_pg_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(DB_PASSWORD)
            )
        )
        conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(role)
            )
        )
    url = make_url(admin_pg_url).set(username=role, password=DB_PASSWORD, database=name)
    db = SecretDatabase(url.render_as_string(hide_password=False), role)
    upgrade(db.url)
    yield db
    with psycopg.connect(libpq_url(admin_pg_url), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@dataclass(frozen=True)
class HostileRun:
    ids: list[str]
    log: str


def hostile_event(n: int, text_: str) -> dict[str, Any]:
    return {
        "id": f"{text_}#{n}",
        "source": text_[:200],
        "published_at": "2026-11-28T10:00:00+00:00",
        "headline": f"{text_} Initech schedules after the ceo appointment",
        "body": text_,
        "tickers": ["BRK-A", text_],
    }


@pytest.fixture(scope="module")
def hostile_run(
    secret_db: SecretDatabase,
    kafka_bootstrap: str,
    test_bundle: ModelBundle,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[HostileRun]:
    """A DEBUG-logging worker, given every secret setting, stores events full of hostile text."""
    prefix = topic_prefix("security")
    settings = worker_settings(kafka_bootstrap, prefix, secret_db.url, test_bundle.path)
    settings.update(LOG_LEVEL="DEBUG", KAFKA__SASL_PASSWORD=SASL_PASSWORD, API__TOKEN=API_TOKEN)
    ensure_topics(
        KafkaSettings(
            bootstrap=kafka_bootstrap,
            raw_topic=f"{prefix}.raw",
            dlq_topic=f"{prefix}.dlq",
            scored_topic=f"{prefix}.scored",
        )
    )
    await_topic(kafka_bootstrap, f"{prefix}.raw")
    worker = Service(
        "worker",
        "classify",
        process_env(settings),
        tmp_path_factory.mktemp("security") / "worker.log",
    )
    worker.start()
    try:
        worker.wait_ready(has_provider)
        events = [hostile_event(n, t) for n, t in enumerate(HOSTILE)]
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        for event in events:
            producer.send(f"{prefix}.raw", json.dumps(event).encode())
        producer.flush()
        producer.close()
        ids = [e["id"] for e in events]
        engine = make_engine(DatabaseSettings(url=SecretStr(secret_db.url)))
        _wait_stored(engine, ids)
        engine.dispose()
        yield HostileRun(ids, worker.log_tail(10_000_000))
    finally:
        worker.stop()
        delete_topics_with_prefix(kafka_bootstrap, prefix)


def _wait_stored(engine: Engine, ids: list[str], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            found: int = conn.execute(
                text("SELECT count(*) FROM news_items WHERE id = ANY(:ids)"), {"ids": ids}
            ).scalar_one()
        if found == len(ids):
            return
        time.sleep(0.5)
    raise AssertionError(f"hostile events not stored within {timeout}s")


def finsent(*args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from workers.cli import main; main()", *args],
        cwd=REPO,
        env=process_env(settings, COLUMNS="300"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_no_secret(output: str) -> None:
    leaked = [s for s in SECRETS if s in output]
    assert not leaked, f"secrets leaked: {leaked}"


# ---- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "env"])
def test_config_show_masks_every_secret(secret_db: SecretDatabase, fmt: str) -> None:
    shown = finsent(
        "config",
        "show",
        "--format",
        fmt,
        DATABASE__URL=secret_db.url,
        KAFKA__SASL_PASSWORD=SASL_PASSWORD,
        API__TOKEN=API_TOKEN,
    )
    assert shown.returncode == 0, shown.stderr
    assert_no_secret(shown.stdout + shown.stderr)
    assert secret_db.role in shown.stdout, "the user name is shown, only the password hidden"


def test_a_settings_error_does_not_echo_the_secret() -> None:
    shown = finsent(
        "config", "show", DATABASE__URL=f"mysql://u:{DB_PASSWORD}@db/x", API__TOKEN=API_TOKEN
    )
    assert shown.returncode == 2
    assert "database.url" in shown.stderr
    assert_no_secret(shown.stdout + shown.stderr)


def test_worker_debug_log_holds_no_secret(hostile_run: HostileRun) -> None:
    assert "assigned" in hostile_run.log, "the log is the worker's"
    assert_no_secret(hostile_run.log)


@pytest.mark.parametrize("kind", ["notify"])
def test_failing_database_errors_hold_no_password(
    secret_db: SecretDatabase, kind: str, tmp_path: Path
) -> None:
    env = process_env(
        {
            "DATABASE__URL": secret_db.with_password(WRONG_PASSWORD),
            "LOG_LEVEL": "DEBUG",
            "TRENDS__STEP_S": "1",
            "WEBHOOKS__POLL_INTERVAL_S": "0.2",
        }
    )
    service = Service(kind, kind, env, tmp_path / f"{kind}.log")
    service.start()
    deadline = time.monotonic() + 60
    while (
        "password authentication failed" not in service.log_tail() and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    service.stop()
    log = service.log_tail(10_000_000)
    assert "password authentication failed" in log, log[-2000:]
    assert_no_secret(log)


# ---- webhook targets -----------------------------------------------------------------------

NEVER = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/",
    "http://169.254.10.1/",
    "http://0.0.0.0:8080/",
]


@pytest.mark.parametrize("url", NEVER)
def test_link_local_and_metadata_targets_are_refused_even_when_private_is_allowed(
    url: str,
) -> None:
    permissive = WebhookSettings(allow_private_targets=True)
    with pytest.raises(ConfigError):
        check_target(url, permissive)


def test_a_name_that_resolves_to_metadata_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"169\.254\.169\.254"):
        check_target(
            "https://innocent.example/hook",
            WebhookSettings(allow_private_targets=True),
            resolve=lambda host: ["169.254.169.254"],
        )


def test_private_targets_need_the_setting_and_allowed_hosts_is_an_allow_list() -> None:
    with pytest.raises(ConfigError, match="allow_private_targets"):
        check_target("http://10.1.2.3/hook", WebhookSettings())
    check_target("http://10.1.2.3/hook", WebhookSettings(allow_private_targets=True))
    only = WebhookSettings(allowed_hosts=("hooks.example.com",))
    with pytest.raises(ConfigError, match="allowed_hosts"):
        check_target("https://other.example.com/x", only, resolve=lambda host: ["93.184.216.34"])
    check_target("https://hooks.example.com/x", only, resolve=lambda host: ["93.184.216.34"])


def test_endpoints_add_refuses_metadata_and_stores_nothing(secret_db: SecretDatabase) -> None:
    engine = make_engine(DatabaseSettings(url=SecretStr(secret_db.url)))
    try:
        with pytest.raises(ConfigError):
            add_endpoint(
                engine,
                WebhookSettings(allow_private_targets=True),
                "imds",
                "http://169.254.169.254/latest/meta-data/",
                datetime.now(UTC),
            )
        cli = finsent(
            "endpoints",
            "add",
            "imds-cli",
            "http://169.254.169.254/",
            DATABASE__URL=secret_db.url,
            WEBHOOKS__ALLOW_PRIVATE_TARGETS="true",
        )
        with engine.connect() as conn:
            names: list[str] = list(
                conn.execute(text("SELECT name FROM webhook_endpoints")).scalars()
            )
    finally:
        engine.dispose()
    assert cli.returncode != 0
    assert "169.254.169.254" in cli.stderr + cli.stdout
    assert not {"imds", "imds-cli"} & set(names)


# ---- hostile text --------------------------------------------------------------------------


@pytest.fixture
def api(secret_db: SecretDatabase) -> Iterator[TestClient]:
    engine = make_engine(DatabaseSettings(url=SecretStr(secret_db.url)))
    with TestClient(create_app(engine, API_TOKEN, [DatabaseCheck(engine)])) as client:
        yield client
    engine.dispose()


AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


def test_hostile_text_is_stored_and_returned_verbatim(
    hostile_run: HostileRun, api: TestClient
) -> None:
    response = api.get(
        "/api/items",
        params={"ticker": "BRK-A", "limit": 1000, "from": "2026-01-01T00:00:00Z"},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    by_id = {item["item_id"]: item for item in response.json()}
    assert set(hostile_run.ids) <= set(by_id)
    for n, hostile in enumerate(HOSTILE):
        item = by_id[f"{hostile}#{n}"]
        assert item["source"] == hostile[:200].strip()
        assert item["headline"].startswith(hostile.strip())


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("/api/items", "topic"),
        ("/api/trends", "scope"),
        ("/api/alerts", "scope"),
        ("/api/items", "ticker"),
    ],
)
def test_hostile_queries_are_answered_or_refused_never_500(
    hostile_run: HostileRun, api: TestClient, path: str, param: str, hostile: str
) -> None:
    value = f"topic:{hostile}" if param == "scope" else hostile
    response = api.get(path, params={param: value}, headers=AUTH)
    assert response.status_code in (200, 422), response.text
    if param == "topic" and response.status_code == 200:
        assert response.json() == []
    assert api.get("/api/items", params={"ticker": "BRK-A"}, headers=AUTH).json(), "tables intact"


@pytest.mark.parametrize("hostile", HOSTILE[:3])
def test_hostile_report_scope_through_the_cli(
    hostile_run: HostileRun, secret_db: SecretDatabase, hostile: str
) -> None:
    done = finsent(
        "report", "--scope", f"topic:{hostile}", "--format", "json", DATABASE__URL=secret_db.url
    )
    assert done.returncode in (0, 2), done.stderr
    assert "Traceback" not in done.stderr
    engine = make_engine(DatabaseSettings(url=SecretStr(secret_db.url)))
    with engine.connect() as conn:
        kept: int = conn.execute(
            text("SELECT count(*) FROM news_items WHERE id = ANY(:ids)"), {"ids": hostile_run.ids}
        ).scalar_one()
    engine.dispose()
    assert kept == len(hostile_run.ids)


# ---- reporting role, API auth, Kafka client security ----------------------------------------


def test_the_reporting_role_reads_but_cannot_write(
    secret_db: SecretDatabase, hostile_run: HostileRun, admin_pg_url: str
) -> None:
    role = f"rep_{uuid.uuid4().hex[:10]}"
    # Roles are cluster-wide: created by the admin role (CREATEROLE), in the test's database.
    admin_here = make_url(admin_pg_url).set(database=make_url(secret_db.url).database)
    as_admin = admin_here.render_as_string(hide_password=False)
    made = finsent("db", "create-roles", DATABASE__URL=as_admin, DATABASE__REPORTING_ROLE=role)
    assert made.returncode == 0, made.stderr
    statements = [
        "INSERT INTO news_items (id) VALUES ('x')",
        "UPDATE classifications SET score = 0",
        "DELETE FROM news_items",
        "DELETE FROM webhook_endpoints",
        "CREATE TABLE rogue (x int)",
        "SELECT secret FROM webhook_endpoints",
    ]
    try:
        with psycopg.connect(libpq_url(as_admin), autocommit=True) as conn:
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)))
            conn.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(role)))
            assert conn.execute("SELECT count(*) FROM news_items").fetchone() == (len(HOSTILE),)
            assert conn.execute("SELECT count(*) FROM scored_items").fetchone() is not None
            for statement in statements:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    finally:
        with psycopg.connect(libpq_url(as_admin), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {API_TOKEN}x"},
        {"Authorization": API_TOKEN},
        {"X-Api-Token": API_TOKEN},
    ],
    ids=["none", "wrong", "longer", "no scheme", "other header"],
)
@pytest.mark.parametrize("path", ["/api/items", "/api/alerts", "/api/scopes", "/api/trends"])
def test_the_api_wants_its_token(api: TestClient, path: str, headers: dict[str, str]) -> None:
    assert api.get(path, headers=headers).status_code == 401
    assert api.get(path, headers=AUTH).status_code == 200


SECURE = KafkaSettings(
    bootstrap="broker-1:9093,broker-2:9093",
    security_protocol="SASL_SSL",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="finsent",
    sasl_password=SecretStr(SASL_PASSWORD),
    ssl_cafile=Path("/etc/ssl/ca.pem"),
    ssl_certfile=Path("/etc/ssl/client.pem"),
    ssl_keyfile=Path("/etc/ssl/client.key"),
)
SECURE_OPTIONS = {
    "bootstrap_servers": ["broker-1:9093", "broker-2:9093"],
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "finsent",
    "sasl_plain_password": SASL_PASSWORD,
    "ssl_cafile": "/etc/ssl/ca.pem",
    "ssl_certfile": "/etc/ssl/client.pem",
    "ssl_keyfile": "/etc/ssl/client.key",
}


def test_kafka_security_settings_reach_every_client(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers import classifier

    built: dict[str, dict[str, Any]] = {}

    def recorder(name: str) -> Any:
        def build(*args: Any, **kwargs: Any) -> str:
            built[name] = kwargs
            return name

        return build

    monkeypatch.setattr(classifier, "KafkaConsumer", recorder("consumer"))
    monkeypatch.setattr(classifier, "KafkaProducer", recorder("producer"))
    assert SECURE.client_options() == SECURE_OPTIONS
    classifier.make_consumer(SECURE)
    classifier.make_producer(SECURE)
    for name in ("consumer", "producer"):
        assert SECURE_OPTIONS.items() <= built[name].items(), name
    assert SASL_PASSWORD not in repr(SECURE)


def test_a_tls_setting_is_really_used_against_a_plaintext_broker(kafka_bootstrap: str) -> None:
    tls = KafkaSettings(
        bootstrap=kafka_bootstrap, security_protocol="SSL", raw_topic=f"{topic_prefix('tls')}.raw"
    )
    started = time.monotonic()
    with pytest.raises(FinsentError):
        ensure_topics(tls)
    assert time.monotonic() - started < 120
