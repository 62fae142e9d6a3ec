"""The Prometheus endpoint of a worker process: the default registry plus those it owns."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

log = logging.getLogger(__name__)


def serve_metrics(host: str, port: int, owned: tuple[CollectorRegistry, ...] = ()) -> None:
    """Serve /metrics on `host:port` (port 0 = off) from a daemon thread: the process and
    classifier metrics of the default registry, and the `owned` ones (scheduler, notifier)."""
    for registry in owned:
        REGISTRY.register(registry)
    if port == 0:
        return
    start_http_server(port, addr=host)
    log.info("metrics on http://%s:%d/metrics", host, port)
