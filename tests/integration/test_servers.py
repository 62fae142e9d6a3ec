"""The server fixtures hand out a working Kafka and fresh PostgreSQL databases."""

from __future__ import annotations

import time

import psycopg
import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from tests.servers import (
    create_database,
    database_url,
    delete_topics_with_prefix,
    drop_database,
    libpq_url,
    topic_prefix,
)

PARTITIONS = 6
MESSAGES = 100


def _create_topic(bootstrap: str, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        # The controller answers the create before every broker's metadata lists the topic.
        deadline = time.monotonic() + 15
        while not (partitions := admin.describe_topics([topic])[0]["partitions"]):
            assert time.monotonic() < deadline, f"{topic} has no partitions after 15 s"
            time.sleep(0.2)
        assert len(partitions) == PARTITIONS
    finally:
        admin.close()


def _produce(bootstrap: str, topic: str, numbers: range) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for n in numbers:
        producer.send(topic, value=str(n).encode(), partition=n % PARTITIONS)
    producer.flush()
    producer.close()


def _consume_and_commit(bootstrap: str, topic: str, group: str, count: int) -> list[int]:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=20_000,
    )
    seen: list[int] = []
    for record in consumer:
        seen.append(int(record.value))
        if len(seen) == count:
            break
    consumer.commit()
    consumer.close()
    return seen


def _committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_consumer_group_offsets(group)
    finally:
        admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


def test_kafka_group_commits_offsets_and_resumes_from_them(
    kafka_bootstrap: str, unique_topic_prefix: str
) -> None:
    topic = f"{unique_topic_prefix}.events"
    group = f"{unique_topic_prefix}-group"
    _create_topic(kafka_bootstrap, topic)
    _produce(kafka_bootstrap, topic, range(MESSAGES))

    first = _consume_and_commit(kafka_bootstrap, topic, group, MESSAGES)
    expected = {p: len(range(p, MESSAGES, PARTITIONS)) for p in range(PARTITIONS)}
    assert sorted(first) == list(range(MESSAGES))
    assert _committed_offsets(kafka_bootstrap, group) == expected

    # A new member of the same group starts at the committed offsets: it sees only new messages.
    _produce(kafka_bootstrap, topic, range(MESSAGES, MESSAGES + PARTITIONS))
    second = _consume_and_commit(kafka_bootstrap, topic, group, PARTITIONS)
    assert sorted(second) == list(range(MESSAGES, MESSAGES + PARTITIONS))
    assert _committed_offsets(kafka_bootstrap, group) == {p: n + 1 for p, n in expected.items()}


def _topics_with_prefix(bootstrap: str, prefix: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return [topic for topic in admin.list_topics() if topic.startswith(prefix)]
    finally:
        admin.close()


def test_topic_cleanup_deletes_only_its_own_prefix(
    kafka_bootstrap: str, unique_topic_prefix: str
) -> None:
    doomed_prefix = topic_prefix("cleanup")
    _create_topic(kafka_bootstrap, f"{doomed_prefix}.a")
    _create_topic(kafka_bootstrap, f"{unique_topic_prefix}.kept")

    delete_topics_with_prefix(kafka_bootstrap, doomed_prefix)

    deadline = time.monotonic() + 15
    while _topics_with_prefix(kafka_bootstrap, doomed_prefix) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _topics_with_prefix(kafka_bootstrap, doomed_prefix) == []
    assert _topics_with_prefix(kafka_bootstrap, unique_topic_prefix) == [
        f"{unique_topic_prefix}.kept"
    ]


def test_pg_url_is_a_fresh_database_that_round_trips_rows(pg_url: str) -> None:
    with psycopg.connect(libpq_url(pg_url)) as conn:
        name = conn.execute("SELECT current_database()").fetchone()
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        conn.execute("CREATE TABLE probe (id int PRIMARY KEY, note text NOT NULL)")
        conn.execute("INSERT INTO probe VALUES (%s, %s), (%s, %s)", (1, "up", 2, "down"))
    with psycopg.connect(libpq_url(pg_url)) as conn:
        rows = conn.execute("SELECT id, note FROM probe ORDER BY id").fetchall()
    assert name is not None
    assert name[0].startswith("finsent_test_")
    assert tables == (0,)
    assert rows == [(1, "up"), (2, "down")]


def test_test_databases_are_dropped_even_with_open_connections(admin_pg_url: str) -> None:
    name = create_database(admin_pg_url)
    leaked = psycopg.connect(libpq_url(database_url(admin_pg_url, name)))
    drop_database(admin_pg_url, name)
    with psycopg.connect(libpq_url(admin_pg_url)) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
        assert left.fetchone() == (0,)
    with pytest.raises(psycopg.OperationalError):
        leaked.execute("SELECT 1")
    leaked.close()


def test_tests_in_this_folder_carry_the_integration_marker(
    request: pytest.FixtureRequest,
) -> None:
    assert request.node.get_closest_marker("integration") is not None
