"""`finsent api`: serve the HTTP API, /metrics and the dashboard with uvicorn."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI


def build_app(settings: Settings, token: str) -> FastAPI:
    """The API wired to the configured database, Kafka and model (imports kept off CLI start)."""
    from pipeline.reporting.api.app import create_app
    from pipeline.reporting.api.health import DatabaseCheck, KafkaCheck, ModelCheck, ReadinessCheck
    from pipeline.storage.db import make_engine, require_database_file

    require_database_file(settings.database)  # a database that is away is /readyz's to report
    engine = make_engine(settings.database)
    checks: list[ReadinessCheck] = [
        DatabaseCheck(engine),
        KafkaCheck(settings.kafka),
        ModelCheck(settings.model, engine),
    ]
    return create_app(engine, token, checks)


def api_token(settings: Settings) -> tuple[str, bool]:
    """The configured token, or a fresh random one for this run (True when generated)."""
    if settings.api.token is not None and settings.api.token.get_secret_value():
        return settings.api.token.get_secret_value(), False
    return secrets.token_urlsafe(24), True


def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default: api.host)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: api.port)")] = None,
) -> None:
    """Serve /api (bearer token), /healthz, /readyz, /metrics and the dashboard."""
    import uvicorn

    from workers.invocation import console, settings

    loaded = settings()
    token, generated = api_token(loaded)
    app = build_app(loaded, token)  # before printing anything: it may fail in one line
    bind_host, bind_port = host or loaded.api.host, port or loaded.api.port
    base = f"http://{bind_host}:{bind_port}"
    if generated:
        # Printed once for the person who started it; never logged.
        console.print(f"no FINSENT_API__TOKEN set; this run's token: {token}", highlight=False)
        console.print(f"dashboard: {base}/dashboard/#token={token}", highlight=False)
    else:
        console.print(f"dashboard: {base}/dashboard/ (asks for the API token)", highlight=False)
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning")
