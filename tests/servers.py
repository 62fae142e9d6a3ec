"""The real Kafka and PostgreSQL behind integration tests, brought up by scripts/services.sh.

Ports come from the script's own settings (FINSENT_KAFKA_PORT, FINSENT_PG_PORT), so the
tests always talk to the servers that `scripts/services.sh up` starts.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError
from psycopg import sql
from sqlalchemy.engine import make_url

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVICES_SCRIPT = REPO_ROOT / "scripts" / "services.sh"
# A cold start fetches Kafka's jars from Maven Central and may install Postgres.
START_TIMEOUT_S = 900
OUTPUT_TAIL_CHARS = 8000


class ServersUnavailableError(RuntimeError):
    """The servers neither answered nor could be started; the message holds the evidence."""


@dataclass(frozen=True)
class Servers:
    kafka_bootstrap: str
    admin_pg_url: str

    @classmethod
    def from_environment(cls) -> Servers:
        kafka_port = os.environ.get("FINSENT_KAFKA_PORT", "9092")
        pg_port = os.environ.get("FINSENT_PG_PORT", "5432")
        return cls(
            kafka_bootstrap=f"127.0.0.1:{kafka_port}",
            admin_pg_url=f"postgresql+psycopg://finsent:finsent@127.0.0.1:{pg_port}/finsent",
        )


def kafka_answers(bootstrap: str) -> bool:
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, api_version_auto_timeout_ms=3000, request_timeout_ms=5000
        )
        try:
            return bool(admin.describe_cluster()["brokers"])
        finally:
            admin.close()
    except KafkaError:
        return False


def postgres_answers(url: str) -> bool:
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def missing_servers(servers: Servers) -> list[str]:
    answers = {
        "kafka": kafka_answers(servers.kafka_bootstrap),
        "postgres": postgres_answers(servers.admin_pg_url),
    }
    return [name for name, ok in answers.items() if not ok]


def start_servers() -> None:
    try:
        done = subprocess.run(
            ["bash", str(SERVICES_SCRIPT), "up"],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise ServersUnavailableError(f"{SERVICES_SCRIPT} up ran past {START_TIMEOUT_S}s") from e
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-OUTPUT_TAIL_CHARS:]
        raise ServersUnavailableError(f"{SERVICES_SCRIPT} up exited {done.returncode}:\n{output}")


def ensure_servers(servers: Servers) -> None:
    """Return once both servers answer, starting them if needed; raise ServersUnavailableError."""
    if not missing_servers(servers):
        return
    start_servers()
    missing = missing_servers(servers)
    if missing:
        raise ServersUnavailableError(f"still not answering after services.sh up: {missing}")


def require_servers() -> Servers:
    """The configured servers, started if needed; a test that needs them FAILS without them."""
    import pytest

    wanted = Servers.from_environment()
    try:
        ensure_servers(wanted)
    except ServersUnavailableError as e:
        problem = str(e)
    else:
        return wanted
    # Failing outside the except block keeps the report to the script's own output.
    pytest.fail(f"real Kafka/PostgreSQL unavailable:\n{problem}", pytrace=False)


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL the app takes, in the plain form that psycopg.connect takes."""
    plain = make_url(url).set(drivername="postgresql")
    return plain.render_as_string(hide_password=False)


def database_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def create_database(admin_url: str) -> str:
    name = f"finsent_test_{uuid.uuid4().hex}"
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(admin_url: str, name: str) -> None:
    # FORCE ends connections a test leaked (a pool not disposed), which would block the drop.
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(statement.format(sql.Identifier(name)))


def topic_prefix(test_name: str) -> str:
    """A prefix unique to one test run; only [a-z0-9-], so '.'/'_' metric collisions can't occur."""
    readable = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")[:60]
    return f"t-{readable}-{uuid.uuid4().hex[:10]}"


def delete_topics_with_prefix(bootstrap: str, prefix: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        doomed = [topic for topic in admin.list_topics() if topic.startswith(prefix)]
        if doomed:
            admin.delete_topics(doomed)
    finally:
        admin.close()
