"""Foundation on the real servers: topics ensure + group round trip; migrations up and down."""

from __future__ import annotations

import json
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient
from sqlalchemy import create_engine, inspect

from pipeline.consumer.topics import ensure_topics
from pipeline.settings import KafkaSettings
from pipeline.storage.migrate import downgrade, upgrade

CORE_TABLES = {"news_items", "classifications", "ticker_mentions", "model_versions"}


def test_topics_ensure_then_group_round_trip(kafka_bootstrap: str, unique_topic_prefix: str) -> None:
    settings = KafkaSettings(
        bootstrap=kafka_bootstrap,
        raw_topic=f"{unique_topic_prefix}.raw",
        dlq_topic=f"{unique_topic_prefix}.dlq",
        scored_topic=f"{unique_topic_prefix}.scored",
    )
    outcome = ensure_topics(settings)
    assert set(outcome.values()) == {"created"}
    assert set(ensure_topics(settings).values()) == {"exists"}

    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    described = admin.describe_topics([settings.raw_topic])
    admin.close()
    assert len(described[0]["partitions"]) == 6

    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    for i in range(120):
        value = json.dumps({"n": i}).encode()
        producer.send(settings.raw_topic, key=f"k{i % 17}".encode(), value=value)
    producer.flush()
    producer.close()

    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = KafkaConsumer(
        settings.raw_topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=15_000,
    )
    seen = set()
    for record in consumer:
        seen.add(json.loads(record.value)["n"])
        if len(seen) == 120:
            break
    consumer.commit()
    partitions = {TopicPartition(settings.raw_topic, p) for p in range(6)}
    committed = {tp.partition: consumer.committed(tp) for tp in partitions}
    ends = consumer.end_offsets(list(partitions))
    consumer.close()
    assert seen == set(range(120))
    assert sum(ends.values()) == 120
    assert all(committed[tp.partition] == ends[tp] for tp in partitions), (committed, ends)


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_up_down_up_on_postgres(pg_url: str) -> None:
    upgrade(pg_url)
    assert _tables(pg_url) >= CORE_TABLES
    downgrade(pg_url, "base")
    assert _tables(pg_url) == set()
    upgrade(pg_url)
    assert _tables(pg_url) >= CORE_TABLES


@pytest.mark.parametrize("path", ["mig.db"])
def test_migrations_upgrade_on_sqlite(tmp_path: object, path: str) -> None:
    url = f"sqlite:///{tmp_path}/{path}"
    upgrade(url)
    assert _tables(url) >= CORE_TABLES
    downgrade(url, "base")
    assert _tables(url) == set()
