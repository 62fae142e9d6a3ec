"""The CI-bounded chaos run and the negative control (the large run is bench/reliability.py).

Few kills and small counts, with max.poll.interval.ms and the session timeout lowered, so
the tier fits its budget; the assertions are the same as the large run's.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.model.bundle import ModelBundle
from tests.chaos.harness import ChaosRun
from tests.chaos.negative_control import run_negative_control
from tests.chaos.plan import ChaosPlan
from tests.servers import Servers

CI_PLAN = ChaosPlan(
    run="ci",
    events=500,
    bad_events=40,
    worker_kills=2,
    postgres_restarts=1,
    broker_restarts=1,
    freezes=1,
    leader_kills=1,
    notifier_kills=1,
    spikes=2,
    rate=12.0,
    max_poll_interval_ms=6_000,
    session_timeout_ms=6_000,
    quiesce_timeout_s=150.0,
)


def test_faults_lose_nothing_double_nothing_and_deliver_everything(
    chaos_servers: Servers, test_bundle: ModelBundle, tmp_path: Path
) -> None:
    report = ChaosRun(CI_PLAN, chaos_servers, test_bundle.path, tmp_path).execute()
    (tmp_path / "report.json").write_text(json.dumps(report.as_json(), indent=2))
    summary = f"{report.as_json()}\nlogs in {tmp_path}"

    assert report.quiesced, summary
    assert report.worker_kills == CI_PLAN.worker_kills, summary
    assert report.kills_with_batch_in_flight >= 1, summary
    assert (report.postgres_restarts, report.broker_restarts) == (1, 1), summary
    assert (report.postgres_freezes, report.leader_kills, report.notifier_kills) == (1, 1, 1)
    assert report.lost == 0, summary
    assert report.duplicated == 0, summary
    assert report.unexpected_items == 0, summary
    assert report.dlq_found == report.dlq_expected == CI_PLAN.bad_events, summary
    assert report.dlq_unexpected == 0, summary
    assert report.dlq_records >= report.dlq_found, summary
    assert report.dlq_without_reason == 0, summary
    assert report.alerts_fired >= 1, summary
    assert report.notifications_expected == 2 * CI_PLAN.spikes, summary
    assert report.notifications_delivered == report.notifications_expected, summary
    assert report.outbox_deliveries >= report.notifications_expected, summary
    assert report.outbox_undelivered == 0, summary
    assert report.notifications_retried >= 1, summary
    assert report.retries_with_changed_body == 0, summary
    assert report.final_lag == 0, summary
    unplanned = [f for f in report.fault_log if f["fault"] == "unplanned_exit"]
    assert not unplanned, summary


def test_negative_control_wrong_commit_order_loses_items(
    chaos_servers: Servers, test_bundle: ModelBundle, tmp_path: Path
) -> None:
    control = run_negative_control(chaos_servers, test_bundle.path, tmp_path, count=300)

    assert control.crashed, f"the worker did not die at the crash point: {control}"
    assert control.lost >= 1, f"wrong commit order + crash lost nothing: {control}"
