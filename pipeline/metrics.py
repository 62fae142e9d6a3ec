"""Prometheus metrics of the classifier (served on `metrics_port`, default 9108).

Names are `finsent_classifier_*`; a registry is passed in so tests can read fresh values.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ClassifierMetrics:
    """Every metric the classify path and the worker loop record."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        p = "finsent_classifier_"
        self.messages = Counter(
            p + "messages",
            "Messages taken in, by outcome (valid | rejected)",
            ["outcome"],
            registry=registry,
        )
        self.dead_letters = Counter(
            p + "dead_letters", "Messages written to the DLQ, by kind", ["kind"], registry=registry
        )
        self.decode_failures = Counter(
            p + "decode_failures",
            "Messages whose decoding raised an unexpected error (dead-lettered as internal)",
            ["exception"],
            registry=registry,
        )
        self.sentiment_share = Gauge(
            p + "sentiment_share",
            "Share of each predicted sentiment over the last hour",
            ["sentiment"],
            registry=registry,
        )
        self.sentiment_drift = Gauge(
            p + "sentiment_share_drift",
            "Last hour's share of a sentiment minus its share in the model's training data",
            ["sentiment"],
            registry=registry,
        )
        self.batches = Counter(p + "batches", "Batches classified and stored", registry=registry)
        self.batch_size = Histogram(
            p + "batch_size", "Items per batch", buckets=_BATCH_SIZES, registry=registry
        )
        self.inferences = Counter(
            p + "inferences",
            "Items run through the model (one per distinct content)",
            registry=registry,
        )
        self.reprints = Counter(p + "reprints", "Items stored as reprints", registry=registry)
        self.inference_seconds = Histogram(
            p + "inference_seconds", "Classify time per batch", buckets=_SECONDS, registry=registry
        )
        self.write_seconds = Histogram(
            p + "write_seconds",
            "DB transaction time per batch",
            buckets=_SECONDS,
            registry=registry,
        )
        self.rows = Counter(
            p + "rows", "Rows inserted (conflicts skipped), by table", ["table"], registry=registry
        )
        self.write_failures = Counter(
            p + "write_failures", "Failed batch writes (retried)", registry=registry
        )
        self.committed = Counter(
            p + "committed_messages", "Messages whose offsets were committed", registry=registry
        )
        self.uncommitted = Gauge(
            p + "uncommitted_messages",
            "Fetched messages whose offsets are not committed yet",
            registry=registry,
        )
        self.in_flight = Gauge(
            p + "batches_in_flight",
            "Batches between the batcher and the offset commit",
            registry=registry,
        )
        self.paused = Gauge(
            p + "paused", "1 while partitions are paused by backpressure", registry=registry
        )
        self.lag = Gauge(
            p + "consumer_lag",
            "High watermark minus committed offset",
            ["partition"],
            registry=registry,
        )
        self.provider = Gauge(
            p + "active_provider",
            "1 for the ONNX Runtime provider in use",
            ["provider"],
            registry=registry,
        )
