"""RFC 9457 problem details: how the API says that a dependency is away, in one log line."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError

from pipeline.boundary import explain, known_secrets, mask_secrets
from pipeline.errors import DependencyUnavailable

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The database is unreachable or not migrated (RFC 9457 problem)",
        "content": {PROBLEM_JSON: {}},
    }
}


def problem(status: int, title: str, detail: str, instance: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body | {"instance": instance}, status_code=status, media_type=PROBLEM_JSON)


def add_problem_handlers(app: FastAPI) -> None:
    """A database that is away, or not migrated, answers 503 with a problem, not a 500."""

    async def database_error(request: Request, error: Exception) -> JSONResponse:
        explained = explain(error)
        if not isinstance(explained, DependencyUnavailable):
            raise error  # a bug: the server's own 500 and its traceback
        detail = mask_secrets(str(explained), known_secrets())
        log.warning("%s %s: 503 %s", request.method, request.url.path, detail)
        return problem(503, "Service Unavailable", detail, request.url.path)

    app.add_exception_handler(DBAPIError, database_error)
