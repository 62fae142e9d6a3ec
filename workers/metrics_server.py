"""The Prometheus endpoint of a worker process."""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


def serve_metrics(host: str, port: int) -> None:
    """Serve /metrics on `host:port` (port 0 = off) from a daemon thread."""
    if port == 0:
        return
    start_http_server(port, addr=host)
    log.info("metrics on http://%s:%d/metrics", host, port)
