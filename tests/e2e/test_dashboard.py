"""The dashboard in headless Chromium (Debian's `chromium`, driven by Playwright).

The API runs for real under uvicorn on a seeded database; the test reads what the browser
drew, clicks through from the alert to its items, and saves a screenshot.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from pipeline.api.app import create_app
from pipeline.api.health import DatabaseCheck
from tests.reporting_seed import seeded_sqlite

pytestmark = pytest.mark.e2e
TOKEN = "dashboard-test-token"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
OUT = Path(__file__).resolve().parents[2] / "finsent-out"
RANGE = "from=2026-11-01T00:00:00Z&to=2026-11-04T00:00:00Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    engine = seeded_sqlite(Path(tmp_path_factory.mktemp("dashboard")))
    port = _free_port()
    config = uvicorn.Config(
        create_app(engine, TOKEN, [DatabaseCheck(engine)]),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    opened = context.new_page()
    yield opened
    context.close()


def test_dashboard_trends_alerts_and_drill_down(base_url: str, page: Page, tmp_path: Path) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base_url}/dashboard/#token={TOKEN}&{RANGE}&scope=ticker:ACME")
    expect(page.locator("body[data-loaded=true]")).to_have_count(1, timeout=15_000)
    assert "token" not in page.url

    # Ticker ACME: one hourly bar per hour with items (2), one alert marker, two topics.
    expect(page.locator("#scope")).to_have_value("ticker:ACME")
    expect(page.locator("#trend-chart rect.neg-bar")).to_have_count(2)
    expect(page.locator("#trend-chart g.alert-marker")).to_have_count(1)
    expect(page.locator("#topic-chart rect.topic-bar")).to_have_count(2)
    rows = page.locator("#alerts tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ticker:ACME")
    expect(rows.first).to_contain_text("firing")

    rows.first.click()
    drill = page.locator("#drilldown")
    expect(drill).to_be_visible()
    items = page.locator("#dd-items tbody tr")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("ACME headline a5")
    expect(items.nth(1)).to_contain_text("ACME headline a3")
    expect(page.locator("#dd-deliveries tbody tr")).to_contain_text("msg_seed1")

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    OUT.mkdir(exist_ok=True)
    shutil.copy(shot, OUT / "dashboard.png")
    assert errors == []


def test_switching_scope_redraws_the_market(base_url: str, page: Page) -> None:
    page.goto(f"{base_url}/dashboard/#token={TOKEN}&{RANGE}")
    expect(page.locator("body[data-loaded=true]")).to_have_count(1, timeout=15_000)
    expect(page.locator("#scope option")).to_have_count(6)
    page.select_option("#scope", "topic:Markets")
    page.click("#controls button[type=submit]")
    expect(page.locator("#trend-scope")).to_contain_text("topic:Markets")
    expect(page.locator("#trend-chart rect.neg-bar")).to_have_count(2)


def test_without_a_token_the_dashboard_asks_for_one(base_url: str, page: Page) -> None:
    page.goto(f"{base_url}/dashboard/#{RANGE}")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#token", "wrong")
    page.click("#token-form button")
    expect(page.locator("#status")).to_contain_text("refused")
    page.fill("#token", TOKEN)
    page.click("#token-form button")
    expect(page.locator("body[data-loaded=true]")).to_have_count(1, timeout=15_000)
    expect(page.locator("#alerts tbody tr")).to_have_count(1)
