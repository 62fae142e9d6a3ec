"""`finsent demo` end to end, as the README runs it: the outcome fixed in demo_expected.json.

Exactly one ticker alert, for the scandal issuer, none for any other ticker; every
notification delivered to the local receiver with a valid signature; the report, the
explanations, the chart and the dashboard pointer printed. Runs on the shipped model (derived
into the cache on first use, seconds), as a user's clone does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from pipeline.demo.stream import DEFAULT_EXPECTED, SCANDAL_TICKER
from pipeline.model.shipped import SHIPPED_DIR, read_pack
from pipeline.storage.alert_tables import AlertRow, WebhookDeliveryRow
from pipeline.storage.tables import ClassificationRow

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
FINSENT = Path(sys.executable).with_name("finsent")


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("demo")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("FINSENT_") or k == "FINSENT_CACHE_DIR"
    }
    env["COLUMNS"] = "160"
    finished = subprocess.run(
        [str(FINSENT), "demo", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=out,
        timeout=1200,
        check=False,
    )
    return finished, out


def test_demo_reaches_the_expected_outcome(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    finished, out = demo_run
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    expected = json.loads(DEFAULT_EXPECTED.read_text())
    assert expected["ticker_alerts"] == [SCANDAL_TICKER]

    engine = create_engine(f"sqlite:///{out / 'finsent-demo.db'}")
    with Session(engine) as session:
        alerts = session.scalars(select(AlertRow)).all()
        deliveries = session.scalars(select(WebhookDeliveryRow)).all()
        versions = set(session.scalars(select(ClassificationRow.model_version)).all())
    engine.dispose()
    assert versions == {read_pack(SHIPPED_DIR).version}, "the demo serves the shipped model"
    fired_tickers = [a.scope for a in alerts if a.scope_kind == "ticker" and a.fired_at is not None]
    assert fired_tickers == [f"ticker:{SCANDAL_TICKER}"]
    scandal = next(a for a in alerts if a.scope == f"ticker:{SCANDAL_TICKER}")
    assert scandal.state == "resolved"
    assert scandal.explanation["top_items"], "the alert explains itself with items"
    assert deliveries
    assert {d.status for d in deliveries} == {"delivered"}


def test_demo_prints_what_it_promises(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    finished, out = demo_run
    text = finished.stdout
    assert f"report: ticker:{SCANDAL_TICKER}" in text
    assert re.search(rf"#\d+ ticker:{SCANDAL_TICKER}", text)
    posts = re.search(r"local receiver: (\d+) POSTs, (\d+) with a valid signature", text)
    assert posts is not None
    assert int(posts.group(1)) == int(posts.group(2)) > 0
    assert "as expected" in text
    assert "NOT as expected" not in text
    assert f"the shipped model {read_pack(SHIPPED_DIR).version}" in text
    assert (out / f"trend_ticker_{SCANDAL_TICKER}.png").stat().st_size > 10_000
    assert "finsent api" in text
