"""Fixtures for tests on the real Kafka and PostgreSQL; a missing server fails, never skips."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.model.bundle import ModelBundle
from pipeline.storage.migrate import upgrade
from tests.integration.worker_harness import Stack
from tests.servers import (
    Servers,
    create_database,
    database_url,
    delete_topics_with_prefix,
    drop_database,
    require_servers,
    topic_prefix,
)

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items, so only those under this folder are marked.
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def servers() -> Servers:
    return require_servers()


@pytest.fixture(scope="session")
def kafka_bootstrap(servers: Servers) -> str:
    return servers.kafka_bootstrap


@pytest.fixture(scope="session")
def admin_pg_url(servers: Servers) -> str:
    """SQLAlchemy URL of the `finsent` database as role `finsent` (CREATEDB, CREATEROLE)."""
    return servers.admin_pg_url


@pytest.fixture
def unique_topic_prefix(request: pytest.FixtureRequest, kafka_bootstrap: str) -> Iterator[str]:
    """Name topics `<prefix>.<anything>`; they are deleted after the test."""
    prefix = topic_prefix(request.node.name)
    yield prefix
    delete_topics_with_prefix(kafka_bootstrap, prefix)


@pytest.fixture
def pg_url(admin_pg_url: str) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database that is dropped after the test."""
    name = create_database(admin_pg_url)
    yield database_url(admin_pg_url, name)
    drop_database(admin_pg_url, name)


@pytest.fixture
def stack(
    kafka_bootstrap: str, unique_topic_prefix: str, pg_url: str, test_bundle: ModelBundle
) -> Stack:
    """Migrated database, topics and the tiny model: what a worker under test runs on."""
    upgrade(pg_url)
    built = Stack(kafka_bootstrap, unique_topic_prefix, pg_url, test_bundle.path)
    built.ensure_topics()
    return built
