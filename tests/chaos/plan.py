"""What a chaos run does (the plan) and what it found (the report)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ChaosPlan:
    """How big a run is and which faults it injects (each spread over the production)."""

    run: str
    events: int
    bad_events: int
    worker_kills: int
    postgres_restarts: int = 1
    broker_restarts: int = 1
    freezes: int = 1
    leader_kills: int = 1
    notifier_kills: int = 0
    spikes: int = 2
    rate: float = 50.0
    max_poll_interval_ms: int = 8_000
    session_timeout_ms: int = 6_000
    quiesce_timeout_s: float = 300.0
    seed: int = 7

    def fault_names(self) -> list[str]:
        """Faults interleaved so that no two of a kind come back to back."""
        counts = {
            "kill_worker": self.worker_kills,
            "restart_postgres": self.postgres_restarts,
            "freeze_postgres": self.freezes,
            "restart_broker": self.broker_restarts,
            "kill_leader": self.leader_kills,
            "kill_notifier": self.notifier_kills,
        }
        order: list[str] = []
        while any(counts.values()):
            for name in counts:
                if counts[name]:
                    order.append(name)
                    counts[name] -= 1
        return order


@dataclass
class ChaosReport:
    run: str
    events: int = 0
    good_events: int = 0
    bad_events: int = 0
    worker_kills: int = 0
    kills_with_batch_in_flight: int = 0
    postgres_restarts: int = 0
    postgres_freezes: int = 0
    broker_restarts: int = 0
    leader_kills: int = 0
    notifier_kills: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected_items: int = 0
    dlq_expected: int = 0
    dlq_found: int = 0
    dlq_unexpected: int = 0
    dlq_records: int = 0
    dlq_without_reason: int = 0
    notifications_expected: int = 0
    notifications_delivered: int = 0
    outbox_deliveries: int = 0
    outbox_undelivered: int = 0
    notifications_retried: int = 0
    retries_with_changed_body: int = 0
    alerts_fired: int = 0
    final_lag: int | None = None
    quiesced: bool = False
    seconds: float = 0.0
    fault_log: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)
