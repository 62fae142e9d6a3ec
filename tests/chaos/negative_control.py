"""The negative control: the worker with offsets committed before rows, killed between
the two commits, must lose items; if it did not, the chaos run could not see a loss either.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from pipeline.settings import DatabaseSettings
from pipeline.storage.db import make_engine
from tests.chaos import events
from tests.chaos.harness import ChaosRun, has_provider
from tests.chaos.observe import Storage, group_lag, read_storage
from tests.chaos.plan import ChaosPlan
from tests.chaos.stack import Service
from tests.servers import Servers


@dataclass
class NegativeControlReport:
    events: int
    lost: int
    crashed: bool
    exit_code: int | None
    seconds: float


def run_negative_control(
    servers: Servers, bundle: Path, workdir: Path, count: int = 300
) -> NegativeControlReport:
    """The same worker with offsets committed before rows, killed between the two commits:
    this must lose items, or the chaos run could not see a loss either."""
    started = time.monotonic()
    plan = ChaosPlan("negative-control", count, 0, 0, 0, 0, 0, 0, spikes=0, rate=2000)
    run = ChaosRun(plan, servers, bundle, workdir)
    run.outbound = [events.bulk(i, datetime.now(UTC)) for i in range(count)]
    with ExitStack() as stack:
        db_url = stack.enter_context(run.database())
        stack.enter_context(run.topics())
        wrong = Service(
            "wrong-order",
            "faulty-classify",
            run.env(db_url),
            workdir / "wrong-order.log",
            WRONG_ORDER,
        )
        wrong.start()
        stack.callback(wrong.stop)
        wrong.wait_ready(has_provider)
        errors: list[BaseException] = []
        run.produce(threading.Event(), errors)
        code = _await_exit(wrong, timeout=120)
        right = Service("right-order", "classify", run.env(db_url), workdir / "right-order.log")
        right.start()
        stack.callback(right.stop)
        storage = _settle(run, db_url, timeout=120)
    lost = len(run.expected_ids() - storage.item_ids)
    return NegativeControlReport(
        count, lost, code == -9, code, round(time.monotonic() - started, 1)
    )


# Offsets committed before rows, SIGKILL after the third offset commit (tests/faulty_worker.py).
WRONG_ORDER = ("--offsets-first", "--crash-at", "3")


def _await_exit(service: Service, timeout: float) -> int | None:
    deadline = time.monotonic() + timeout
    while service.alive and time.monotonic() < deadline:
        time.sleep(0.2)
    return None if service.alive else service.stop()


def _settle(run: ChaosRun, db_url: str, timeout: float) -> Storage:
    """Once the group has no lag and the stored count has not moved for a few seconds."""
    engine = make_engine(DatabaseSettings(url=SecretStr(db_url)))
    deadline = time.monotonic() + timeout
    last, steady = -1, 0
    try:
        while True:
            storage = read_storage(engine)
            lag = group_lag(run.servers.kafka_bootstrap, run.group, run.raw_topic)
            steady = steady + 1 if len(storage.item_ids) == last and lag == 0 else 0
            last = len(storage.item_ids)
            if steady >= 3 or time.monotonic() > deadline:
                return storage
            time.sleep(1.0)
    finally:
        engine.dispose()
