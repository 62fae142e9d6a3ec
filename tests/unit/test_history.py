"""History mode: a replay ends, stores its alerts, and retention keeps replayed history."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.pool import StaticPool
from typer.testing import CliRunner

from pipeline.alerting.backtest import load_series
from pipeline.alerting.history import replay_history
from pipeline.alerting.maintenance import apply_retention
from pipeline.model.bundle import ModelBundle
from pipeline.settings import RetentionSettings, Settings, load_settings
from pipeline.storage.alert_tables import AlertEventRow, AlertRow
from pipeline.storage.db import make_engine
from pipeline.storage.migrate import upgrade
from pipeline.storage.tables import Base, NewsItem
from tests.integration.alert_fixtures import Stream
from workers.cli import app

HISTORY = datetime(2014, 3, 3, 12, 0, tzinfo=UTC)


def memory_engine() -> Engine:
    import pipeline.storage.trend_tables  # noqa: F401  - registers the tables on Base

    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    Base.metadata.create_all(engine)
    return engine


def surge_history(engine: Engine) -> Stream:
    """26 calm hours of ACME in 2014, then a burst of negative items."""
    stream = Stream(engine)
    stream.register_model(HISTORY - timedelta(days=3))
    for minute in range(0, 26 * 60, 10):
        stream.add(HISTORY - timedelta(hours=26, minutes=-minute), "ACME", "neutral")
    for k in range(30):
        stream.add(HISTORY + timedelta(minutes=1, seconds=k), "ACME", "negative")
    stream.flush()
    return stream


def history_settings() -> Settings:
    return load_settings(database={"url": "sqlite://"}, trends={"step_s": 300})


def test_a_replay_stores_its_alerts_once() -> None:
    engine = memory_engine()
    surge_history(engine)
    span = (HISTORY - timedelta(hours=1), HISTORY + timedelta(hours=3))

    events = replay_history(engine, history_settings(), *span)
    replay_history(engine, history_settings(), *span)  # re-storing the span replaces it

    with engine.connect() as conn:
        stored = conn.execute(select(AlertRow.__table__)).mappings().all()
        kinds = conn.execute(select(AlertEventRow.event_type).order_by(AlertEventRow.id)).all()
    acme = [a for a in stored if a["scope"] == "ticker:ACME"]
    assert [e.event for e in events if e.scope == "ticker:ACME"] == [
        "alert.pending",
        "alert.firing",
        "alert.resolved",
    ]
    assert len(acme) == 1
    assert acme[0]["state"] == "resolved"
    assert acme[0]["fired_at"] == HISTORY + timedelta(minutes=10)
    assert acme[0]["explanation"]["top_items"], "the evidence is stored"
    assert len(kinds) == len(events)


@pytest.mark.parametrize(
    ("days", "kept"),
    [
        pytest.param(400, 156 + 30, id="replayed 2014 history survives a 2026 wall clock"),
        pytest.param(1, 143 + 30, id="the horizon counts back from the newest stored event"),
    ],
)
def test_retention_counts_from_the_newest_stored_event(days: int, kept: int) -> None:
    engine = memory_engine()
    surge_history(engine)

    apply_retention(engine, RetentionSettings(items_days=days), datetime(2026, 11, 2, tzinfo=UTC))

    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(NewsItem)).scalar_one() == kept


def test_run_replay_exits_when_the_file_is_done(test_bundle: ModelBundle, tmp_path: Path) -> None:
    replay = tmp_path / "news.jsonl"
    lines = [
        {
            "id": f"n{i}",
            "source": "wire",
            "headline": f"ACME shares fall {i}",
            "published_at": (HISTORY + timedelta(minutes=i)).isoformat(),
            "tickers": ["ACME"],
        }
        for i in range(40)
    ]
    spanish = "Las acciones de ACME caen tras los resultados del trimestre"
    lines.append({**lines[-1], "id": "es1", "headline": spanish})
    replay.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    env = {
        "FINSENT_DATABASE__URL": f"sqlite:///{tmp_path / 'f.db'}",
        "FINSENT_MODEL__BUNDLE": str(test_bundle.path),
        "FINSENT_METRICS_PORT": "0",
        "FINSENT_CLASSIFIER__DEAD_LETTER_FILE": str(tmp_path / "dlq.jsonl"),
        "FINSENT_KAFKA__BOOTSTRAP": "",  # embedded, whatever the caller's shell exports
    }
    command = [sys.executable, "-m", "workers.cli", "run", "--replay", str(replay)]

    try:
        done = subprocess.run(
            command,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("run --replay kept running after the replay")

    assert done.returncode == 0, done.stderr[-2000:]
    engine = create_engine(env["FINSENT_DATABASE__URL"])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(NewsItem)).scalar_one() == 41
        detected = conn.execute(
            select(NewsItem.lang, NewsItem.is_english).where(NewsItem.id == "es1")
        ).one()
    assert tuple(detected) == ("es", False), "language detected and stored"
    stored = load_settings(database={"url": env["FINSENT_DATABASE__URL"]})
    series = load_series(engine, stored, HISTORY - timedelta(days=1), HISTORY + timedelta(days=1))
    assert len(series["market"].times) == 40, "the Spanish item is kept out of the windows"
    assert "alert events stored" in done.stderr, "the rules ran over the replayed span"


def documented_fields(section: str) -> set[str]:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "backtest-jsonl.md").read_text("utf-8")
    body = doc.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", body, flags=re.MULTILINE))


def test_backtest_json_lines_follow_the_documented_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    upgrade(url)
    surge_history(make_engine(load_settings(database={"url": url}).database))
    env = {"FINSENT_DATABASE__URL": url, "FINSENT_TRENDS__STEP_S": "300"}
    span = [
        "--from",
        (HISTORY - timedelta(hours=1)).isoformat(),
        "--to",
        (HISTORY + timedelta(hours=3)).isoformat(),
    ]

    result = CliRunner().invoke(app, ["backtest", *span, "--json", "--store"], env=env)

    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines, "the surge produced events"
    assert all(set(line) == documented_fields("Line") for line in lines)
    explained = [line["explanation"] for line in lines if line["explanation"]]
    assert all(set(why) == documented_fields("`explanation`") for why in explained)
    listed = CliRunner().invoke(app, ["alerts", "list"], env=env)
    assert "ticker:ACME" in listed.output, "--store wrote the alerts"
