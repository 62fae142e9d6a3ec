"""Prometheus metrics of the API process: requests by route and status, and their latency."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "finsent_api_requests_total", "HTTP requests served", ["method", "route", "status"]
)
LATENCY = Histogram("finsent_api_request_seconds", "HTTP request latency", ["route"])


async def record_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Middleware: label by the route template, never the raw path (unbounded cardinality)."""
    started = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    template = getattr(route, "path", "unmatched")
    REQUESTS.labels(request.method, template, str(response.status_code)).inc()
    LATENCY.labels(template).observe(time.perf_counter() - started)
    return response
