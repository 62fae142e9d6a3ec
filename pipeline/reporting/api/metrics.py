"""Prometheus metrics of the API process: requests by route and status, and their latency.

The API serves its own registry: only what this process computes (the scheduler's and the
notifier's gauges belong to their workers, even where their modules are imported here).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import Request, Response
from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)
from starlette.routing import BaseRoute, Match, Mount

REGISTRY = CollectorRegistry()
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)
REQUESTS = Counter(
    "finsent_api_requests_total",
    "HTTP requests served",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "finsent_api_request_seconds", "HTTP request latency", ["route"], registry=REGISTRY
)
UNMATCHED = "unmatched"


async def record_request(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Middleware: label by the route template, never the raw path (unbounded cardinality)."""
    started = time.perf_counter()
    before = dict(request.scope)  # a mount rewrites the scope's paths as it routes
    response = await call_next(request)
    template = route_label(request.scope, before, request.app.router.routes)
    REQUESTS.labels(request.method, template, str(response.status_code)).inc()
    LATENCY.labels(template).observe(time.perf_counter() - started)
    return response


def route_label(
    scope: Mapping[str, Any], before: Mapping[str, Any], routes: list[BaseRoute]
) -> str:
    """The template of the route that served the request: an API route records itself in
    the scope; the docs, the dashboard mount and other plain routes are matched here."""
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return str(route.path)
    for candidate in routes:
        match, _ = candidate.matches(dict(before))
        if match is Match.FULL:
            path = str(getattr(candidate, "path", UNMATCHED))
            return f"{path}/{{path}}" if isinstance(candidate, Mount) else path
    return UNMATCHED
