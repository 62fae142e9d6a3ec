"""The HTTP API over a seeded SQLite database: auth, health, metrics, trends, alerts, items."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pipeline.reporting.api.app import create_app
from pipeline.reporting.api.health import CheckResult, DatabaseCheck
from tests.reporting_seed import seeded_sqlite

TOKEN = "test-token-123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RANGE = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-04T00:00:00Z"}


class FailingCheck:
    name = "kafka"

    def check(self) -> CheckResult:
        return CheckResult(ok=False, detail="no bootstrap broker reachable")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    engine = seeded_sqlite(tmp_path)
    with TestClient(create_app(engine, TOKEN, [DatabaseCheck(engine)])) as test_client:
        yield test_client
    engine.dispose()


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no header"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong token"),
        pytest.param({"Authorization": f"Basic {TOKEN}"}, id="wrong scheme"),
    ],
)
@pytest.mark.parametrize("path", ["/api/trends", "/api/alerts", "/api/items", "/api/alerts/1"])
def test_api_needs_the_bearer_token(client: TestClient, path: str, headers: dict[str, str]) -> None:
    response = client.get(path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_health_ready_and_metrics_are_open(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == {"ok": True, "detail": "sqlite"}
    client.get("/api/items", headers=AUTH)
    metrics = client.get("/metrics").text
    assert 'finsent_api_requests_total{method="GET",route="/api/items",status="200"}' in metrics


def test_readyz_is_503_when_a_dependency_fails(tmp_path: Path) -> None:
    engine = seeded_sqlite(tmp_path)
    app = create_app(engine, TOKEN, [DatabaseCheck(engine), FailingCheck()])
    with TestClient(app) as test_client:
        response = test_client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["ready"] is False


def test_trends_for_a_ticker(client: TestClient) -> None:
    body = client.get(
        "/api/trends", params={"scope": "ticker:ACME", "period": "daily", **RANGE}, headers=AUTH
    ).json()
    assert [p["items"] for p in body["points"]] == [2, 3]
    assert body["topics"][0]["topic"] == "Legal | Regulation"
    assert [a["alert_id"] for a in body["alerts"]] == [1]


def test_alert_drill_down_names_its_items(client: TestClient) -> None:
    body = client.get("/api/alerts/1", headers=AUTH).json()
    assert [i["item_id"] for i in body["items"]] == ["a5", "a3"]
    assert body["explanation"]["threshold"] == 3.0
    assert client.get("/api/alerts/2", headers=AUTH).status_code == 404


def test_items_by_ticker_topic_and_time(client: TestClient) -> None:
    params = {"ticker": "ACME", "topic": "Earnings", **RANGE}
    items = client.get("/api/items", params=params, headers=AUTH).json()
    assert [i["item_id"] for i in items] == ["a2", "a1"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        pytest.param("/api/trends", {"scope": "sector:X"}, id="unknown scope kind"),
        pytest.param("/api/items", {"ticker": "acme; drop table x"}, id="hostile ticker"),
        pytest.param("/api/items", {"topic": "a\x00b"}, id="NUL in topic"),
        pytest.param("/api/items", {"limit": "0"}, id="limit too small"),
        pytest.param("/api/trends", {"from": "0001-01-01T00:00:00+14:00"}, id="time out of range"),
        pytest.param(
            "/api/trends",
            {"from": "2026-11-04T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
            id="from after to",
        ),
    ],
)
def test_bad_parameters_are_422_not_500(
    client: TestClient, path: str, params: dict[str, str]
) -> None:
    assert client.get(path, params=params, headers=AUTH).status_code == 422


def test_dashboard_is_served_without_outside_resources(client: TestClient) -> None:
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert "dashboard.js" in page.text
    script = client.get("/dashboard/dashboard.js").text
    assert "innerHTML" not in script
    for text in (page.text, script, client.get("/dashboard/dashboard.css").text):
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard/"


@pytest.mark.parametrize(
    ("scope", "hint"),
    [
        pytest.param("topic:earnings", "did you mean 'Earnings'?", id="topic typo"),
        pytest.param("ticker:ACMR", "did you mean 'ACME'", id="ticker typo"),
    ],
)
def test_unknown_scopes_are_422_with_a_suggestion(
    client: TestClient, scope: str, hint: str
) -> None:
    response = client.get("/api/trends", params={"scope": scope, **RANGE}, headers=AUTH)
    assert response.status_code == 422
    assert hint in response.json()["detail"][0]["msg"]


def test_an_empty_range_says_where_the_data_is(client: TestClient) -> None:
    empty = {"from": "2026-12-01T00:00:00Z", "to": "2026-12-02T00:00:00Z"}
    body = client.get("/api/trends", params={"scope": "ticker:BETA", **empty}, headers=AUTH).json()
    assert body["points"] == []
    assert body["data_span"] == {"first": "2026-11-02T10:20:00Z", "last": "2026-11-03T09:04:00Z"}
    assert body["notes"] == [
        "no data in range; ticker:BETA data spans 2026-11-02 10:20 to 2026-11-03 09:04 UTC"
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, (3, ["a5", "a4", "a3"]), id="default page"),
        pytest.param({"limit": 2}, (3, ["a5", "a4"]), id="first of two"),
        pytest.param({"limit": 2, "offset": 2}, (3, ["a3"]), id="second of two"),
    ],
)
def test_alert_window_items_by_page(
    client: TestClient, params: dict[str, int], expected: tuple[int, list[str]]
) -> None:
    body = client.get("/api/alerts/1/items", params=params, headers=AUTH).json()
    assert (body["total"], [i["item_id"] for i in body["items"]]) == expected


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        pytest.param("/api/alerts/9/items", {}, 404, id="no such alert"),
        pytest.param("/api/alerts/1/items", {"offset": "-1"}, 422, id="negative offset"),
        pytest.param(
            "/api/alerts",
            {"from": "2026-11-04T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
            422,
            id="alerts over a reversed range",
        ),
        pytest.param(
            "/api/items",
            {"from": "2026-11-04T00:00:00Z", "to": "2026-11-01T00:00:00Z"},
            422,
            id="items over a reversed range",
        ),
    ],
)
def test_refused_pages_and_ranges(
    client: TestClient, path: str, params: dict[str, str], status: int
) -> None:
    assert client.get(path, params=params, headers=AUTH).status_code == status


def test_swagger_ui_is_served_from_the_package_not_a_cdn(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text
    assert "https://" not in page.text
    assert "/docs/static/swagger-ui-bundle.js" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        assert client.get(f"/docs/static/{asset}").status_code == 200
    assert client.get("/openapi.json").json()["paths"]["/api/alerts/{alert_id}/items"]


@pytest.fixture
def away(tmp_path: Path) -> Iterator[TestClient]:
    """An API whose database cannot be opened (its directory does not exist)."""
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'gone' / 'finsent.db'}")
    with TestClient(create_app(engine, TOKEN, [DatabaseCheck(engine)])) as test_client:
        yield test_client
    engine.dispose()


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/api/trends", id="trends"),
        pytest.param("/api/scopes", id="scopes"),
        pytest.param("/api/alerts", id="alerts"),
        pytest.param("/api/alerts/1", id="one alert"),
        pytest.param("/api/items", id="items"),
    ],
)
def test_database_away_is_a_503_problem_in_one_log_line(
    away: TestClient, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = away.get(path, headers=AUTH)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["title"], body["instance"]) == (503, "Service Unavailable", path)
    assert "unable to open database file" in body["detail"]
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "Traceback" not in caplog.text


def test_readyz_names_the_database_that_is_down(away: TestClient) -> None:
    response = away.get("/readyz")
    assert response.status_code == 503
    detail = response.json()["checks"]["database"]
    assert detail == {"ok": False, "detail": "unreachable: unable to open database file"}


def test_readyz_says_when_the_schema_is_missing(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with TestClient(create_app(engine, TOKEN, [DatabaseCheck(engine)])) as test_client:
        detail = test_client.get("/readyz").json()["checks"]["database"]["detail"]
    assert detail == "no finsent schema: run `finsent db upgrade`"


@pytest.mark.parametrize(
    ("path", "route"),
    [
        pytest.param("/docs", "/docs", id="swagger ui"),
        pytest.param("/openapi.json", "/openapi.json", id="openapi"),
        pytest.param("/dashboard/", "/dashboard/{path}", id="dashboard page"),
        pytest.param("/dashboard/dashboard.js", "/dashboard/{path}", id="dashboard asset"),
        pytest.param("/api/items", "/api/items", id="api route"),
        pytest.param("/nowhere", "unmatched", id="404 stays unmatched"),
    ],
)
def test_every_route_has_its_own_metrics_label(client: TestClient, path: str, route: str) -> None:
    status = client.get(path, headers=AUTH).status_code
    metrics = client.get("/metrics").text
    assert (
        f'finsent_api_requests_total{{method="GET",route="{route}",status="{status}"}}' in metrics
    )


def test_the_api_exports_only_its_own_metrics(client: TestClient) -> None:
    import pipeline.alert_metrics  # noqa: F401 - registered in this process, owned by workers

    names = {
        line.split("{")[0].split(" ")[0]
        for line in client.get("/metrics").text.splitlines()
        if line and not line.startswith("#")
    }
    assert any(n.startswith("finsent_api_requests_total") for n in names)
    assert not {n for n in names if n.startswith(("finsent_scheduler", "finsent_webhook"))}
    assert not {n for n in names if n.startswith(("finsent_alerts", "finsent_classifier"))}


def test_postgres_away_is_a_503_and_readyz_names_it_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pydantic import SecretStr

    from pipeline.settings import DatabaseSettings
    from pipeline.storage.db import make_engine

    secret = "Api-S3cret-closed-port"
    url = SecretStr(f"postgresql+psycopg://finsent:{secret}@127.0.0.1:1/finsent")
    engine = make_engine(DatabaseSettings(url=url))
    with TestClient(create_app(engine, TOKEN, [DatabaseCheck(engine)])) as test_client:
        problem = test_client.get("/api/alerts", headers=AUTH)
        ready = test_client.get("/readyz").json()["checks"]["database"]
    engine.dispose()
    assert problem.status_code == 503
    assert "Connection refused" in problem.json()["detail"]
    assert ready["detail"].startswith("unreachable: connection failed")
    assert "Connection refused" in ready["detail"]
    assert secret not in problem.text + str(ready) + caplog.text
