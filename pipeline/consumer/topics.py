"""Create finsent's Kafka topics explicitly; nothing relies on auto-creation."""

from __future__ import annotations

from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from pipeline.errors import DependencyUnavailable, FinsentError
from pipeline.settings import KafkaSettings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


def topic_specs(settings: KafkaSettings) -> list[TopicSpec]:
    """news.raw, news.dlq and news.scored with their partitions and retention."""
    size = str(settings.max_message_bytes)

    def spec(name: str, retention_ms: int) -> TopicSpec:
        config = {"retention.ms": str(retention_ms), "max.message.bytes": size}
        return TopicSpec(name, settings.partitions, config)

    return [
        spec(settings.raw_topic, settings.raw_retention_ms),
        spec(settings.dlq_topic, settings.dlq_retention_ms),
        spec(settings.scored_topic, settings.scored_retention_ms),
    ]


def ensure_topics(settings: KafkaSettings) -> dict[str, str]:
    """Create missing topics; returns name → "created" | "exists"."""
    if settings.embedded:
        raise FinsentError(
            "kafka.bootstrap is empty (embedded mode): there are no topics to ensure"
        )
    try:
        admin = KafkaAdminClient(
            client_id=f"{settings.client_id}-admin", **settings.client_options()
        )
    except KafkaError as e:
        raise DependencyUnavailable(
            f"cannot reach Kafka at {settings.bootstrap}: {type(e).__name__}; "
            "is it running? check FINSENT_KAFKA__BOOTSTRAP"
        ) from e
    try:
        existing = set(admin.list_topics())
        outcome: dict[str, str] = {}
        for spec in topic_specs(settings):
            if spec.name in existing:
                outcome[spec.name] = "exists"
                continue
            new = NewTopic(
                spec.name, spec.partitions, settings.replication_factor, topic_configs=spec.config
            )
            try:
                admin.create_topics([new])
                outcome[spec.name] = "created"
            except TopicAlreadyExistsError:
                outcome[spec.name] = "exists"
        return outcome
    finally:
        admin.close()
