"""The FastAPI application: health and metrics open, /api behind the token, the dashboard."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import Depends, FastAPI, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from pipeline.api.auth import UNAUTHORIZED, require_token
from pipeline.api.health import CheckResult, ReadinessCheck
from pipeline.api.metrics import REGISTRY, record_request
from pipeline.api.problems import UNAVAILABLE, add_problem_handlers
from pipeline.api.routes import build_router

STATIC = Path(__file__).parent / "static"


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
    return app


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
