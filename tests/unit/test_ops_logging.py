"""Operational log lines: one per alert transition, per delivery outcome and retry, per
leader change; never a secret, a URL's credentials or its query string."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from pipeline.alerting import leader
from pipeline.alerting.leader import LeaderLock
from pipeline.alerting.scheduling import run_step
from pipeline.clock import SimulatedClock
from pipeline.delivery.notifier import Claimed, Outcome, log_outcome
from pipeline.delivery.webhooks import redact_text, redact_url
from pipeline.settings import load_settings
from pipeline.storage.alert_tables import AlertEventRow
from pipeline.storage.tables import Base
from tests.integration.alert_fixtures import Stream

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
SECRET = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng=="


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://hooks.example.com/a", "https://hooks.example.com/a", id="plain"),
        pytest.param(
            "https://bob:hunter2@hooks.example.com/a",
            "https://***@hooks.example.com/a",
            id="userinfo masked",
        ),
        pytest.param(
            "https://hooks.example.com/a?token=abc&x=1#frag",
            "https://hooks.example.com/a?***",
            id="query masked, fragment dropped",
        ),
        pytest.param(
            "http://u@127.0.0.1:8080/h?k=v", "http://***@127.0.0.1:8080/h?***", id="both, port kept"
        ),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_text_masks_urls_inside_an_error() -> None:
    error = "ConnectError: cannot reach https://bob:hunter2@h.example.com/x?token=abc (refused)"
    masked = redact_text(error)
    assert "hunter2" not in masked
    assert "token=abc" not in masked
    assert "https://***@h.example.com/x?***" in masked


def claimed(url: str = "https://bob:hunter2@hooks.example.com/in?token=abc") -> Claimed:
    return Claimed(7, "msg_2abc", 3, NOW, {}, 1, url, True, "json", (SECRET,))


@pytest.mark.parametrize(
    ("outcome", "state", "expected"),
    [
        pytest.param(
            Outcome("delivered", 200, None, 41.6),
            {"status": "delivered"},
            "webhook delivered: webhook-id msg_2abc, attempt 3, status 200, 42 ms",
            id="delivered",
        ),
        pytest.param(
            Outcome("retry", 503, "HTTP 503", 12.0),
            {"status": "pending", "next_attempt_at": NOW + timedelta(seconds=30)},
            "webhook retry in 30 s: webhook-id msg_2abc, attempt 3, status 503, 12 ms",
            id="retry scheduled",
        ),
        pytest.param(
            Outcome("retry", None, "ReadTimeout: timed out", 10_000.0),
            {"status": "pending", "next_attempt_at": NOW + timedelta(seconds=8)},
            "webhook retry in 8 s: webhook-id msg_2abc, attempt 3, status -, 10000 ms",
            id="timeout",
        ),
        pytest.param(
            Outcome("failed", 404, "HTTP 404", 5.0),
            {"status": "failed", "last_error": "HTTP 404"},
            "webhook failed for good: webhook-id msg_2abc, attempt 3, status 404",
            id="final failure",
        ),
    ],
)
def test_one_info_line_per_delivery_outcome_without_secrets(
    caplog: pytest.LogCaptureFixture, outcome: Outcome, state: dict[str, Any], expected: str
) -> None:
    with caplog.at_level(logging.INFO, logger="pipeline.delivery.notifier"):
        log_outcome(claimed(), outcome, state, NOW)
    [record] = caplog.records
    assert record.levelno == logging.INFO
    assert expected in record.getMessage()
    assert "https://***@hooks.example.com/in?***" in record.getMessage()
    for secret in (SECRET, "hunter2", "token=abc"):
        assert secret not in caplog.text


def test_one_info_line_per_alert_transition(caplog: pytest.LogCaptureFixture) -> None:
    import pipeline.storage.trend_tables  # noqa: F401  - registers the tables on Base

    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    Base.metadata.create_all(engine)
    settings = load_settings(database={"url": "sqlite://"}, trends={"step_s": 300})
    stream = Stream(engine)
    stream.register_model(NOW - timedelta(days=3))
    for minute in range(0, 26 * 60, 10):
        stream.add(NOW - timedelta(hours=26, minutes=-minute), "ACME", "neutral")
    stream.flush()
    clock = SimulatedClock(NOW)
    with caplog.at_level(logging.INFO, logger="pipeline.alerting.alert_rows"):
        for n in range(20):
            if n in (1, 2):
                for k in range(6):
                    stream.add(clock.now() - timedelta(seconds=10 * k + 1), "ACME", "negative")
                stream.flush()
            run_step(engine, settings, clock)
            clock.advance(timedelta(minutes=5))
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.alerting.alert_rows"]
    transitions = [re.match(r"alert (\d+) (\w+) -> (\w+)", line) for line in lines]
    logged = [(int(m[1]), m[3]) for m in transitions if m]
    assert logged == _state_changes(engine)
    acme = [line for line in lines if "ticker:ACME" in line]
    assert [line.split(":")[0].split(" ", 2)[2] for line in acme] == [
        "new -> pending",
        "pending -> firing",
        "firing -> resolved",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records)


def _state_changes(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(AlertEventRow.alert_id, AlertEventRow.event_type).order_by(AlertEventRow.id)
        ).all()
    return [(a, e.removeprefix("alert.")) for a, e in rows if e != "alert.repeat"]


class ScriptedLock(LeaderLock):
    """The lock's answers scripted per call: True/False held, or a database error."""

    def __init__(self, answers: list[bool | None]) -> None:
        super().__init__(create_engine("sqlite://"))
        self._answers = answers

    def _answer(self) -> bool:
        answer = self._answers.pop(0)
        if answer is None:
            raise DBAPIError("SELECT 1", None, Exception("server closed the connection"))
        return answer

    def _try(self) -> bool:
        return self._answer()

    def _still_held(self) -> bool:
        return self._answer()


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param([False, False, True, True], ["acquired"], id="becomes leader once"),
        pytest.param([True, False, True], ["acquired", "lost", "acquired"], id="lost and back"),
        pytest.param([True, None, False], ["acquired", "lost"], id="connection dies"),
        pytest.param([False, False], [], id="never leads: silent"),
    ],
)
def test_one_info_line_per_leader_change(
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    answers: list[bool | None],
    expected: list[str],
) -> None:
    monkeypatch.setattr(leader, "is_postgres", lambda _engine: True)
    lock = ScriptedLock(list(answers))
    with caplog.at_level(logging.INFO, logger="pipeline.alerting.leader"):
        for _ in answers:
            lock.ensure()
    changes = [r.getMessage().split()[2] for r in caplog.records if "leadership" in r.getMessage()]
    assert changes == expected
