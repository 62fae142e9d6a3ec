"""The chaos tier: the real stack under injected faults. It restarts and freezes the shared
Kafka and PostgreSQL, so it runs alone, after the integration tier."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.servers import Servers, require_servers

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.chaos)


@pytest.fixture(scope="session")
def chaos_servers() -> Servers:
    return require_servers()
