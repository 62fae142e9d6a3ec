"""The FastAPI application: health and metrics open, /api behind the token, the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import swagger_ui
from fastapi import Depends, FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from pipeline.reporting.api.auth import UNAUTHORIZED, require_token
from pipeline.reporting.api.health import CheckResult, ReadinessCheck
from pipeline.reporting.api.metrics import REGISTRY, record_request
from pipeline.reporting.api.problems import UNAVAILABLE, add_problem_handlers
from pipeline.reporting.api.routes import build_router

STATIC = Path(__file__).parent / "static"
# Swagger UI's own files, from the swagger-ui-py wheel: /docs works without the internet.
SWAGGER_STATIC = Path(swagger_ui.__file__).parent / "static"


class Readiness(BaseModel):
    model_config = ConfigDict(frozen=True)

    ready: bool
    checks: dict[str, CheckResult]


def create_app(engine: Engine, token: str, checks: Sequence[ReadinessCheck]) -> FastAPI:
    """The API over `engine`; `/api/*` needs `Authorization: Bearer <token>`."""
    if not token:
        raise ValueError("the API needs a non-empty bearer token")
    app = FastAPI(
        title="finsent",
        summary="Financial news sentiment: trends, alerts and the items behind them.",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
    )
    app.middleware("http")(record_request)
    add_problem_handlers(app)
    app.include_router(
        build_router(engine),
        dependencies=[Depends(require_token(token))],
        responses=UNAUTHORIZED | UNAVAILABLE,
    )
    _add_operations(app, checks)
    app.mount("/dashboard", StaticFiles(directory=STATIC, html=True), name="dashboard")
    _add_docs(app)
    return app


def _add_docs(app: FastAPI) -> None:
    app.mount("/docs/static", StaticFiles(directory=SWAGGER_STATIC), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url="/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/docs/static/swagger-ui.css",
            swagger_favicon_url="/docs/static/favicon-32x32.png",
        )


def _add_operations(app: FastAPI, checks: Sequence[ReadinessCheck]) -> None:
    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "A dependency is not ready"}},
        summary="Database, Kafka and model are usable",
    )
    def readyz() -> JSONResponse:
        results = {check.name: check.check() for check in checks}
        body = Readiness(ready=all(r.ok for r in results.values()), checks=results)
        return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)

    @app.get(
        "/metrics",
        tags=["operations"],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
        summary="Prometheus metrics",
    )
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/dashboard/")
