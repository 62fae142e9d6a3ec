"""The dashboard in headless Chromium (Debian's `chromium`, driven by Playwright).

The API runs for real under uvicorn on a seeded database (plus 25 items inside the alert's
window, so its item list has two pages); the tests read what the browser drew, click through
scopes, alerts and pages, and save screenshots to finsent-out/.
"""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from pipeline.reporting.api.app import create_app
from pipeline.reporting.api.health import DatabaseCheck
from tests.reporting_seed import add_window_items, seeded_sqlite

pytestmark = pytest.mark.e2e
TOKEN = "dashboard-test-token"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
OUT = Path(__file__).resolve().parents[2] / "finsent-out"
RANGE = "from=2026-11-01T00:00:00Z&to=2026-11-04T00:00:00Z"
EMPTY_RANGE = "from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z"
TICK = re.compile(r"^\d\d-\d\d( \d\d:\d\d)?$")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    engine = seeded_sqlite(Path(tmp_path_factory.mktemp("dashboard")))
    add_window_items(engine, 25)
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


def _open(page: Page, base_url: str, fragment: str) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base_url}/dashboard/#token={TOKEN}&{fragment}")
    expect(page.locator("body[data-loaded=true]")).to_have_count(1, timeout=15_000)
    return errors


def _screenshot(page: Page, name: str) -> None:
    OUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUT / name), full_page=True)
    assert (OUT / name).stat().st_size > 10_000


def test_dashboard_trends_alerts_and_drill_down(base_url: str, page: Page) -> None:
    errors = _open(page, base_url, f"{RANGE}&scope=ticker:ACME")
    assert "token" not in page.url

    # Ticker ACME: one hourly bar per hour with items (2), one alert marker, two topics.
    expect(page.locator("#scope")).to_have_value("ticker:ACME")
    expect(page.locator("#trend-chart rect.neg-bar")).to_have_count(2)
    expect(page.locator("#trend-chart g.alert-marker")).to_have_count(1)
    expect(page.locator("#topic-chart .topic-bar")).to_have_count(2)
    rows = page.locator("#alerts tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ticker:ACME")
    expect(rows.first).to_contain_text("firing")

    rows.first.click()
    expect(page.locator("#drilldown")).to_be_visible()
    expect(page.locator("#dd-facts .dd-opened")).to_have_text("2026-11-03 09:30 UTC")
    expect(page.locator("#dd-facts .dd-fired")).to_have_text("2026-11-03 09:30 UTC")
    expect(page.locator("#dd-facts .dd-resolved")).to_have_text("still firing")
    items = page.locator("#dd-items tbody tr")
    expect(items).to_have_count(2)
    expect(items.nth(0)).to_contain_text("ACME headline a5")
    expect(items.nth(1)).to_contain_text("ACME headline a3")
    expect(page.locator("#dd-deliveries tbody tr")).to_contain_text("msg_seed1")
    assert "alert=1" in page.url

    # Every item of the window (3 seeded + 25 added), twenty a page.
    window = page.locator("#dd-window tbody tr")
    expect(window).to_have_count(20)
    expect(page.locator("#dd-page")).to_have_text("1–20 of 28")
    expect(page.locator("#dd-prev")).to_be_disabled()
    _screenshot(page, "dashboard.png")
    page.click("#dd-next")
    expect(page.locator("#dd-page")).to_have_text("21–28 of 28")
    expect(window).to_have_count(8)
    expect(window.last).to_contain_text("ACME headline a3")
    expect(page.locator("#dd-next")).to_be_disabled()
    _screenshot(page, "dashboard-drilldown-page2.png")
    assert errors == []


def test_time_axis_is_utc_with_readable_ticks_and_the_range_box_shows_the_link(
    base_url: str, page: Page
) -> None:
    errors = _open(page, base_url, RANGE)
    ticks = page.locator("#trend-chart text.x-tick").all_text_contents()
    assert 4 <= len(ticks) <= 8, ticks
    assert all(TICK.match(t) for t in ticks), ticks
    assert ticks[0] == "11-01 00:00", ticks
    expect(page.locator("#trend-chart text.x-label")).to_have_text("time (UTC)")
    expect(page.locator("#range")).to_have_value("custom")
    expect(page.locator("#range option:checked")).to_have_text(
        "2026-11-01 00:00 → 2026-11-04 00:00 UTC"
    )
    page.select_option("#range", "168")
    expect(page.locator("#range option[value=custom]")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("2026-11-01 00:00 → 2026-11-04 00:00 UTC")
    assert "from=" not in page.url
    assert errors == []


def test_clicking_a_scope_switches_chart_and_alerts(base_url: str, page: Page) -> None:
    errors = _open(page, base_url, RANGE)
    expect(page.locator("#scope option")).to_have_count(6)
    # The market has no alerts of its own: the table says so, and offers the others.
    expect(page.locator("#alerts tbody tr")).to_have_count(1)
    expect(page.locator("#alerts tbody tr")).to_contain_text("no alerts for market")
    page.check("#alerts-all")
    expect(page.locator("#alerts tbody tr[data-alert]")).to_have_count(1)

    page.click("#alerts button.alert-scope")
    expect(page.locator("#scope")).to_have_value("ticker:ACME")
    expect(page.locator("#trend-scope")).to_contain_text("ticker:ACME")
    expect(page.locator("#trend-chart g.alert-marker")).to_have_count(1)
    assert "scope=ticker%3AACME" in page.url or "scope=ticker:ACME" in page.url

    page.uncheck("#alerts-all")
    page.get_by_role("button", name="Earnings", exact=True).click()
    expect(page.locator("#scope")).to_have_value("topic:Earnings")
    expect(page.locator("#trend-scope")).to_contain_text("topic:Earnings")
    expect(page.locator("#trend-chart rect.neg-bar")).to_have_count(1)
    expect(page.locator("#alerts tbody tr")).to_contain_text("no alerts for topic:Earnings")

    page.select_option("#scope", "ticker:BETA")
    expect(page.locator("#trend-scope")).to_contain_text("ticker:BETA")
    _screenshot(page, "dashboard-scope.png")
    assert errors == []


def test_topic_mix_shows_every_topic_in_normal_text(base_url: str, page: Page) -> None:
    errors = _open(page, base_url, RANGE)
    names = page.locator("#topic-chart .topic-name")
    expect(names).to_have_text(["Legal | Regulation", "Markets", "Earnings"])
    body_size = page.evaluate("getComputedStyle(document.body).fontSize")
    sizes = names.evaluate_all("ns => ns.map(n => getComputedStyle(n).fontSize)")
    assert set(sizes) == {body_size} == {"14px"}
    assert names.first.bounding_box()["height"] < 30  # type: ignore[index]  # box of a visible node
    expect(page.locator("#topic-total")).to_have_text("(3 topics, 33 items)")
    assert errors == []


def test_an_empty_range_hints_where_the_data_is(base_url: str, page: Page) -> None:
    errors = _open(page, base_url, EMPTY_RANGE)
    hint = page.locator("#trend-empty")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("no data in range; market data spans 2026-11-02 10:05 to")
    expect(page.locator("#topic-empty")).to_be_visible()
    expect(page.locator("#alerts tbody tr")).to_contain_text("no alerts for market")
    _screenshot(page, "dashboard-empty.png")
    page.click("#show-data-range")
    expect(page.locator("#trend-chart rect.neg-bar")).to_have_count(2)
    expect(hint).to_be_hidden()
    expect(page.locator("#range option:checked")).to_have_text(
        "2026-11-02 10:00 → 2026-11-03 10:00 UTC"
    )
    assert errors == []


def test_swagger_ui_renders_with_the_internet_blocked(base_url: str, page: Page) -> None:
    outside: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{base_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("finsent", timeout=15_000)
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible()
    assert page.locator(".swagger-ui .opblock").count() >= 8
    _screenshot(page, "swagger.png")
    assert outside == []


def test_without_a_token_the_dashboard_asks_for_one(base_url: str, page: Page) -> None:
    page.goto(f"{base_url}/dashboard/#{RANGE}&scope=ticker:ACME")
    expect(page.locator("#login")).to_be_visible()
    page.fill("#token", "wrong")
    page.click("#token-form button")
    expect(page.locator("#status")).to_contain_text("refused")
    page.fill("#token", TOKEN)
    page.click("#token-form button")
    expect(page.locator("body[data-loaded=true]")).to_have_count(1, timeout=15_000)
    expect(page.locator("#alerts tbody tr[data-alert]")).to_have_count(1)
