"""Property-based requests generated from the API's own OpenAPI schema: never a 500.

Bounded (at most 50 examples per operation) so it fits in CI; the responses must also match
the schema's documented status codes, content types and bodies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pipeline.reporting.api.app import create_app
from pipeline.reporting.api.health import DatabaseCheck
from tests.reporting_seed import seeded_sqlite

pytestmark = pytest.mark.e2e
TOKEN = "schemathesis-token"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    engine = seeded_sqlite(Path(tmp_path_factory.mktemp("schemathesis")))
    app = create_app(engine, TOKEN, [DatabaseCheck(engine)])
    return schemathesis.openapi.from_asgi("/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_with_the_token(case: Any) -> None:
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_without_the_token(case: Any) -> None:
    response = case.call()
    case.validate_response(response, checks=CHECKS)
    # Unsupported-method probes get 405 from routing, before auth runs.
    if case.path.startswith("/api/") and case.method.upper() == "GET":
        assert response.status_code == 401
