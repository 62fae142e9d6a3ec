"""The chaos harness: the real stack as subprocesses, faults on a schedule, then the count.

A run: fresh database and topics; two classifier workers, two schedulers (one leads), a
notifier and a webhook receiver that fails some requests; events produced at a steady
rate while faults are injected; then, once everything is quiet, every produced event is
looked up (stored exactly once, or dead-lettered by its original coordinates), every
notification the outbox holds is checked against what the receiver accepted, and the
consumer lag must be back to 0.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from pydantic import SecretStr

from pipeline.consumer.topics import ensure_topics
from pipeline.delivery.endpoints import add_endpoint
from pipeline.delivery.webhooks import new_secret
from pipeline.settings import DatabaseSettings, KafkaSettings, WebhookSettings
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import upgrade
from tests.chaos import events, faults
from tests.chaos.observe import (
    DeadLetterTally,
    Storage,
    await_topic,
    group_lag,
    read_storage,
)
from tests.chaos.plan import ChaosPlan, ChaosReport
from tests.chaos.receiver import FaultyAnswers, WebhookReceiver, running
from tests.chaos.stack import Service, process_env, worker_settings
from tests.servers import (
    Servers,
    create_database,
    database_url,
    delete_topics_with_prefix,
    drop_database,
    topic_prefix,
)

MAX_EVENT_BYTES = 4096
BURST = 8
CALM_EVERY_S = 8.0  # per spike ticker: ~7 calm items per 60 s window, so a burst of 8 is > 40 %
WEBHOOK_TIMEOUT_S = 1.5
PROVIDER = "finsent_classifier_active_provider"
IN_FLIGHT = "finsent_classifier_batches_in_flight"
UNCOMMITTED = "finsent_classifier_uncommitted_messages"
LEADER = "finsent_scheduler_leader"


class ChaosRun:
    """One run on fresh topics and a fresh database; `execute()` returns the report."""

    def __init__(self, plan: ChaosPlan, servers: Servers, bundle: Path, workdir: Path) -> None:
        self.plan = plan
        self.servers = servers
        self.bundle = bundle
        self.workdir = workdir
        self.prefix = topic_prefix(f"chaos-{plan.run}")
        self.rng = random.Random(plan.seed)
        self.report = ChaosReport(plan.run)
        self.services: dict[str, Service] = {}
        self.produced = 0
        self.coordinates: dict[int, tuple[str, int, int]] = {}
        self.outbound: list[events.Outbound] = []

    @property
    def raw_topic(self) -> str:
        return f"{self.prefix}.raw"

    @property
    def dlq_topic(self) -> str:
        return f"{self.prefix}.dlq"

    @property
    def group(self) -> str:
        return f"{self.prefix}-classifier"

    def env(self, db_url: str, **extra: str) -> dict[str, str]:
        """The settings every process of the run shares, through the environment."""
        plan = self.plan
        settings = worker_settings(self.servers.kafka_bootstrap, self.prefix, db_url, self.bundle)
        settings.update(
            {
                "LOG_LEVEL": "INFO",
                "KAFKA__SESSION_TIMEOUT_MS": str(plan.session_timeout_ms),
                "KAFKA__HEARTBEAT_INTERVAL_MS": str(plan.session_timeout_ms // 4),
                "KAFKA__MAX_POLL_INTERVAL_MS": str(plan.max_poll_interval_ms),
                "EVENTS__MAX_EVENT_BYTES": str(MAX_EVENT_BYTES),
                "EVENTS__ALLOWED_SKEW_S": "0",
                "EVENTS__LATENESS_HORIZON_S": "3600",
                "CLASSIFIER__DRAIN_TIMEOUT_S": "10",
                "TRENDS__WINDOW_S": "60",
                "TRENDS__STEP_S": "5",
                "TRENDS__SCOPES": '["ticker"]',
                "ALERTS__BASELINE_WINDOWS": "4",
                "ALERTS__MIN_BASELINE_WINDOWS": "2",
                "ALERTS__MIN_COUNT_TICKER": "3",
                "ALERTS__MIN_COUNT_UNLISTED": "0",  # SPK0.. are not dictionary symbols
                "ALERTS__HOLD_STEPS": "2",
                "ALERTS__RESOLVE_STEPS": "2",
                "ALERTS__REPEAT_EVERY_S": "3600",
                "WEBHOOKS__POLL_INTERVAL_S": "0.5",
                "WEBHOOKS__TIMEOUT_S": str(WEBHOOK_TIMEOUT_S),
                "WEBHOOKS__BACKOFF_BASE_S": "0.3",
                "WEBHOOKS__BACKOFF_MAX_S": "2",
                "WEBHOOKS__ALLOW_PRIVATE_TARGETS": "true",
            }
        )
        return process_env(settings, **extra)

    # ---- the run ---------------------------------------------------------------------------

    def execute(self) -> ChaosReport:
        started = time.monotonic()
        with ExitStack() as stack:
            db_url = stack.enter_context(self.database())
            stack.enter_context(self.topics())
            receiver = stack.enter_context(self._receiver(db_url))
            stack.callback(self._stop_services)
            self._start_services(db_url)
            self._produce_with_faults()
            storage = self._quiesce(db_url, receiver)
            self._account(storage, receiver)
        self.report.seconds = round(time.monotonic() - started, 1)
        return self.report

    @contextmanager
    def database(self) -> Iterator[str]:
        name = create_database(self.servers.admin_pg_url)
        url = database_url(self.servers.admin_pg_url, name)
        try:
            upgrade(url)
            yield url
        finally:
            drop_database(self.servers.admin_pg_url, name)

    @contextmanager
    def topics(self) -> Iterator[None]:
        kafka = KafkaSettings(
            bootstrap=self.servers.kafka_bootstrap,
            raw_topic=self.raw_topic,
            dlq_topic=self.dlq_topic,
            scored_topic=f"{self.prefix}.scored",
        )
        ensure_topics(kafka)
        await_topic(self.servers.kafka_bootstrap, self.raw_topic)
        try:
            yield
        finally:
            delete_topics_with_prefix(self.servers.kafka_bootstrap, self.prefix)

    @contextmanager
    def _receiver(self, db_url: str) -> Iterator[WebhookReceiver]:
        secret = new_secret()
        receiver = WebhookReceiver(secret, FaultyAnswers(stall_s=WEBHOOK_TIMEOUT_S + 1.0))
        with running(receiver):
            engine = make_engine(DatabaseSettings(url=SecretStr(db_url)))
            try:
                add_endpoint(
                    engine,
                    WebhookSettings(allow_private_targets=True),
                    "chaos-desk",
                    receiver.url,
                    datetime.now(UTC),
                    scope_kinds=["ticker"],
                    secret=secret,
                )
            finally:
                engine.dispose()
            yield receiver

    def _start_services(self, db_url: str) -> None:
        env = self.env(db_url)
        for name, kind in (
            ("classifier-1", "classify"),
            ("classifier-2", "classify"),
            ("scheduler-1", "schedule"),
            ("scheduler-2", "schedule"),
            ("notifier-1", "notify"),
        ):
            self.services[name] = Service(name, kind, env, self.workdir / f"{name}.log")
            self.services[name].start()
        for name in ("classifier-1", "classifier-2"):
            self.services[name].wait_ready(has_provider)

    def _stop_services(self) -> None:
        for service in self.services.values():
            service.stop(timeout=15)

    # ---- production and faults -------------------------------------------------------------

    def _produce_with_faults(self) -> None:
        now = datetime.now(UTC)
        tickers = [f"SPK{n}" for n in range(self.plan.spikes)]
        self.outbound = [*events.history(tickers, now), *self._stream(now, tickers)]
        done = threading.Event()
        errors: list[BaseException] = []
        thread = threading.Thread(
            target=self.produce, args=(done, errors), name="producer", daemon=True
        )
        thread.start()
        names = self.plan.fault_names()
        for index, name in enumerate(names):
            self._wait_for_progress((index + 1) / (len(names) + 1), done)
            self._inject(name)
        thread.join()
        if errors:
            raise RuntimeError(f"producing failed: {errors[0]!r}") from errors[0]

    def _stream(self, now: datetime, tickers: list[str]) -> list[events.Outbound]:
        """Bulk and bad events shuffled, calm items for the spike tickers, and the bursts."""
        plan = self.plan
        mixed = [events.bulk(i, now) for i in range(plan.events)]
        mixed += [events.bad(i, MAX_EVENT_BYTES) for i in range(plan.bad_events)]
        self.rng.shuffle(mixed)
        calm_every = max(1, int(plan.rate * CALM_EVERY_S))
        arrival = events.at_arrival(now)
        out: list[events.Outbound] = []
        serial = 100
        for position, record in enumerate(mixed):
            out.append(record)
            if position % calm_every == 0:
                serial += 1
                out += [events.calm(t, serial, arrival) for t in tickers]
        for n, ticker in enumerate(tickers):
            at = len(out) * (n + 1) // (len(tickers) + 1)
            out[at:at] = events.burst(ticker, n, now, BURST)
        return out

    def produce(self, done: threading.Event, errors: list[BaseException]) -> None:
        producer = KafkaProducer(
            bootstrap_servers=self.servers.kafka_bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_block_ms=300_000,
            request_timeout_ms=30_000,
            delivery_timeout_ms=300_000,
            max_request_size=2 * MAX_EVENT_BYTES,
        )
        futures = []
        try:
            started = time.monotonic()
            for index, record in enumerate(self.outbound):
                futures.append(producer.send(self.raw_topic, key=record.key, value=record.value))
                self.produced = index + 1
                lead = started + (index + 1) / self.plan.rate - time.monotonic()
                if lead > 0:
                    time.sleep(lead)
            producer.flush()
            for index, future in enumerate(futures):
                meta = future.get(timeout=300)
                self.coordinates[index] = (meta.topic, meta.partition, meta.offset)
        except BaseException as e:  # reported by the main thread
            errors.append(e)
        finally:
            producer.close(timeout=30)
            done.set()

    def _wait_for_progress(self, fraction: float, done: threading.Event) -> None:
        while not done.is_set() and self.produced < fraction * len(self.outbound):
            time.sleep(0.1)

    def _inject(self, name: str) -> None:
        started = time.monotonic()
        detail = getattr(self, f"_fault_{name}")()
        entry = {"fault": name, "at_event": self.produced, "seconds": 0.0, **detail}
        entry["seconds"] = round(time.monotonic() - started, 1)
        self.report.fault_log.append(entry)

    def _fault_kill_worker(self) -> dict[str, Any]:
        alive = [s for s in self.services.values() if s.kind == "classify" and s.alive]
        victim = self.rng.choice(alive)
        in_flight, uncommitted = _await_in_flight(victim, timeout=20)
        victim.kill9()
        self.report.worker_kills += 1
        self.report.kills_with_batch_in_flight += in_flight > 0
        time.sleep(0.5)
        victim.start()
        return {"worker": victim.name, "in_flight": in_flight, "uncommitted": uncommitted}

    def _fault_restart_postgres(self) -> dict[str, Any]:
        down = faults.restart_postgres(self.servers, _pg_port(self.servers))
        self.report.postgres_restarts += 1
        return {"down_s": round(down, 1)}

    def _fault_freeze_postgres(self) -> dict[str, Any]:
        hold = self.plan.max_poll_interval_ms / 1000 + 3
        with faults.frozen_postgres(_pg_port(self.servers)) as frozen:
            time.sleep(hold)
        self.report.postgres_freezes += 1
        return {"frozen_s": hold, "processes": frozen}

    def _fault_restart_broker(self) -> dict[str, Any]:
        down = faults.restart_kafka(self.servers)
        self.report.broker_restarts += 1
        return {"down_s": round(down, 1)}

    def _fault_kill_leader(self) -> dict[str, Any]:
        schedulers = [s for s in self.services.values() if s.kind == "schedule"]
        leader = _await(lambda: next((s for s in schedulers if s.metric(LEADER) == 1), None), 30)
        if leader is None:
            return {"leader": None}
        leader.kill9()
        self.report.leader_kills += 1
        time.sleep(1.0)
        leader.start()
        return {"leader": leader.name}

    def _fault_kill_notifier(self) -> dict[str, Any]:
        notifier = self.services["notifier-1"]
        notifier.kill9()
        self.report.notifier_kills += 1
        time.sleep(0.5)
        notifier.start()
        return {"notifier": notifier.name}

    # ---- quiescence and the count ----------------------------------------------------------

    def expected_notifications(self) -> set[tuple[str, str]]:
        """Each spike ticker fires once and resolves once."""
        return {
            (f"ticker:SPK{n}", kind)
            for n in range(self.plan.spikes)
            for kind in ("alert.firing", "alert.resolved")
        }

    def expected_ids(self) -> set[str]:
        return {r.item_id for r in self.outbound if r.good and r.item_id}

    def _expected_dead(self) -> set[tuple[str, int, int]]:
        return {self.coordinates[i] for i, r in enumerate(self.outbound) if not r.good}

    def _quiesce(self, db_url: str, receiver: WebhookReceiver) -> Storage:
        engine = make_engine(DatabaseSettings(url=SecretStr(db_url)))
        tally = DeadLetterTally(self.servers.kafka_bootstrap, self.dlq_topic)
        expected, dead = self.expected_ids(), self._expected_dead()
        deadline = time.monotonic() + self.plan.quiesce_timeout_s
        try:
            while True:
                self._revive()
                tally.refresh()
                storage = _try_read(engine)
                lag = group_lag(self.servers.kafka_bootstrap, self.group, self.raw_topic)
                notified = self.expected_notifications() <= receiver.accepted_notifications()
                quiet = (
                    storage is not None and notified and _quiet(storage, expected, dead, tally, lag)
                )
                if storage is not None and (quiet or time.monotonic() > deadline):
                    self.report.quiesced = quiet
                    self.report.final_lag = lag
                    self._count_dead(tally, dead)
                    return storage
                time.sleep(1.0)
        finally:
            tally.close()
            engine.dispose()

    def _revive(self) -> None:
        """A worker that died on its own (not by our hand) is a finding: it is restarted and
        its exit recorded, so the run still ends and the log says what happened."""
        for service in self.services.values():
            if service.proc is not None and not service.alive:
                code = service.stop()
                self.report.fault_log.append(
                    {"fault": "unplanned_exit", "service": service.name, "exit": code}
                )
                service.start()

    def _count_dead(self, tally: DeadLetterTally, dead: set[tuple[str, int, int]]) -> None:
        found = {o for o in tally.origins if o in dead}
        self.report.dlq_expected = len(dead)
        self.report.dlq_found = len(found)
        self.report.dlq_unexpected = len(tally.origins) - len(found)
        self.report.dlq_records = tally.records
        self.report.dlq_without_reason = tally.reasons_missing

    def _account(self, storage: Storage, receiver: WebhookReceiver) -> None:
        report = self.report
        expected = self.expected_ids()
        report.good_events = len(expected)
        report.bad_events = sum(not r.good for r in self.outbound)
        report.events = len(self.outbound)
        report.lost = len(expected - storage.item_ids)
        report.unexpected_items = len(storage.item_ids - expected)
        report.duplicated = storage.classifications - storage.classified_items
        report.alerts_fired = storage.alerts_fired
        accepted = receiver.accepted_ids()
        by_id = receiver.by_id()
        designed = self.expected_notifications()
        report.notifications_expected = len(designed)
        report.notifications_delivered = len(designed & receiver.accepted_notifications())
        report.outbox_deliveries = len(storage.deliveries)
        report.outbox_undelivered = sum(
            status != "delivered" or wid not in accepted
            for wid, status in storage.deliveries.items()
        )
        report.notifications_retried = sum(len(by_id.get(w, [])) > 1 for w in storage.deliveries)
        report.retries_with_changed_body = sum(
            len({r.body for r in reqs}) > 1 for reqs in by_id.values()
        )


def _quiet(
    storage: Storage,
    expected: set[str],
    dead: set[tuple[str, int, int]],
    tally: DeadLetterTally,
    lag: int | None,
) -> bool:
    pending = [s for s in storage.deliveries.values() if s == "pending"]
    return (
        expected <= storage.item_ids
        and dead <= tally.origins
        and lag == 0
        and storage.alerts_open == 0
        and not pending
    )


def _try_read(engine: Any) -> Storage | None:
    try:
        return read_storage(engine)
    except Exception:  # the database is restarting; look again in a second
        return None


def has_provider(samples: dict[str, float]) -> bool:
    return any(name.startswith(PROVIDER) and value == 1 for name, value in samples.items())


def _await_in_flight(worker: Service, timeout: float) -> tuple[int, int]:
    """Wait until the worker has a batch between batcher and commit; (in flight, uncommitted)."""
    deadline = time.monotonic() + timeout
    samples: dict[str, float] = {}
    while time.monotonic() < deadline:
        samples = worker.metrics()
        if samples.get(IN_FLIGHT, 0) >= 1:
            break
        time.sleep(0.02)
    return int(samples.get(IN_FLIGHT, 0)), int(samples.get(UNCOMMITTED, 0))


def _await(find: Callable[[], Service | None], timeout: float) -> Service | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = find()
        if found is not None:
            return found
        time.sleep(0.3)
    return None


def _pg_port(servers: Servers) -> int:
    return int(servers.admin_pg_url.rsplit(":", 1)[1].split("/")[0])
