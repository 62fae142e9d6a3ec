"""The Prometheus endpoint of a worker process: the default registry plus those it owns."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

from pipeline.errors import ConfigError

log = logging.getLogger(__name__)


def serve_metrics(host: str, port: int, owned: tuple[CollectorRegistry, ...] = ()) -> None:
    """Serve /metrics on `host:port` (port 0 = off) from a daemon thread: the process and
    classifier metrics of the default registry, and the `owned` ones (scheduler, notifier)."""
    for registry in owned:
        REGISTRY.register(registry)
    if port == 0:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as e:  # port taken, or an address this host does not have
        raise ConfigError(
            f"cannot serve metrics on {host}:{port}: {e.strerror or e}; "
            "set FINSENT_METRICS_PORT (0 = off) or FINSENT_METRICS_HOST"
        ) from e
    log.info("metrics on http://%s:%d/metrics", host, port)
