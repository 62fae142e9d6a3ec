"""`finsent demo`: wires the default model, SQLite, a simulated clock and a local receiver.

Prints, in order: the model, the replay's progress, the report of the scandal issuer, every
alert with its explanation, what the webhook receiver verified, the chart and the dashboard.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from pipeline.demo.stream import DEFAULT_EXPECTED, DEFAULT_STREAM, SCANDAL_TICKER
from pipeline.errors import FinsentError, InputMissing
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.demo.run import DemoEvent, DemoOutcome
    from pipeline.reporting.alert_history import AlertDetail
    from workers.webhook_receiver import WebhookReceiver


def demo(
    out: Annotated[Path, typer.Option(help="Where the demo database and charts go")] = Path(
        "finsent-out/demo"
    ),
    stream: Annotated[Path, typer.Option(help="JSONL stream to replay")] = DEFAULT_STREAM,
    expected: Annotated[Path, typer.Option(help="Expected outcome (JSON)")] = DEFAULT_EXPECTED,
    bundle: Annotated[
        Path | None,
        typer.Option(help="Model bundle; default: model.bundle, else the default model"),
    ] = None,
    serve: Annotated[
        bool, typer.Option(help="Serve the dashboard at the end (Ctrl-C stops)")
    ] = False,
) -> None:
    """Replay two days of synthetic news with one scandal, on SQLite and a simulated clock."""
    from workers.invocation import console, friendly_errors, settings

    ok = friendly_errors(run_demo)(settings(), console, out, stream, expected, bundle, serve)
    if not ok:
        raise typer.Exit(1)


def run_demo(
    base: Settings,
    console: Console,
    out: Path,
    stream: Path,
    expected: Path,
    bundle: Path | None,
    serve: bool,
) -> bool:
    """The whole demo; True when the outcome matches the expected one."""
    from pipeline.demo.run import demo_settings, expected_outcome, read_stream

    started = time.monotonic()
    _require_inputs(stream, expected, bundle)  # before minutes of model training, not after
    wanted = expected_outcome(expected)
    model_path = bundle or base.model.bundle or _default_model(base, console)
    database = _fresh_database(out)
    settings = demo_settings(base, database, model_path)
    events = read_stream(stream, settings.events.max_event_bytes)
    if not events.events:
        raise FinsentError(f"{stream} holds no valid events")
    end = datetime.fromisoformat(str(wanted["stream_end"]))
    console.print(
        f"[bold]replaying[/] {len(events.events)} events ({len(events.rejected)} rejected) "
        f"from {events.events[0].due:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC on a simulated"
        f" clock, step {settings.trends.step_s} s, window {settings.trends.window_s} s; the"
        " alert rules are the configured ones"
    )
    outcome, receiver = _replay(settings, events.events, end, console)
    _show_results(settings, console, outcome, receiver, out, wanted)
    ok = outcome.ticker_alerts == list(wanted["ticker_alerts"])
    verdict = "[green]as expected[/]" if ok else "[red]NOT as expected[/]"
    console.print(
        f"\n[bold]outcome[/]: ticker alerts {outcome.ticker_alerts} (expected "
        f"{wanted['ticker_alerts']}): {verdict} · demo took {time.monotonic() - started:.0f} s"
    )
    if serve:
        _serve(settings, console, events.events[0].due, end)
    return ok


def _require_inputs(stream: Path, expected: Path, bundle: Path | None) -> None:
    for option, path in (("--stream", stream), ("--expected", expected)):
        if not path.is_file():
            raise InputMissing(f"{option} {path}: no such file")
    if bundle is not None and not bundle.is_dir():
        raise InputMissing(f"--bundle {bundle}: no such model bundle directory")


def _default_model(base: Settings, console: Console) -> Path:
    from pipeline.model.shipped import shipped_bundle

    started = time.monotonic()
    bundle = shipped_bundle(base.cache_dir)
    console.print(
        f"[bold]model[/]: the shipped model {bundle.version} "
        f"({bundle.manifest.serving.cpu} on CPU, ready in {time.monotonic() - started:.0f} s)"
    )
    return bundle.path


def _fresh_database(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    database = (out / "finsent-demo.db").resolve()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return database


def _replay(
    settings: Settings, events: list[DemoEvent], end: datetime, console: Console
) -> tuple[DemoOutcome, WebhookReceiver]:
    import httpx

    from pipeline.clock import SimulatedClock
    from pipeline.consumer.factory import time_policy
    from pipeline.delivery.endpoints import add_endpoint
    from pipeline.delivery.notifier import deliver_due
    from pipeline.delivery.webhooks import new_secret
    from pipeline.demo.run import DemoScorer, replay
    from pipeline.storage.db import make_engine
    from pipeline.storage.migrate import upgrade
    from pipeline.storage.model_version import publish_current_model
    from workers.model_loading import batch_classifier, load_runtime
    from workers.webhook_receiver import WebhookReceiver

    upgrade(settings.database.url.get_secret_value())
    engine = make_engine(settings.database)
    clock = SimulatedClock(events[0].due)
    runtime, model = load_runtime(settings)
    publish_current_model(engine, model.version, clock)
    console.print(
        f"[bold]model[/]: version {model.version} on {getattr(runtime, 'active_provider', '?')}"
    )
    scorer = DemoScorer(
        engine, batch_classifier(runtime, engine, settings), model, time_policy(settings)
    )
    secret = new_secret()
    total = (end - events[0].due) / timedelta(seconds=settings.trends.step_s)
    with (
        WebhookReceiver(secret, clock) as receiver,
        httpx.Client() as client,
        _progress(console) as bar,
    ):
        add_endpoint(
            engine, settings.webhooks, "demo-receiver", receiver.url, clock.now(), secret=secret
        )
        task = bar.add_task("simulated time", total=total)
        outcome = replay(
            events,
            end,
            engine,
            settings,
            clock,
            scorer,
            lambda: deliver_due(engine, settings.webhooks, clock, client),
            lambda now: bar.update(task, advance=1, description=f"{now:%a %H:%M} UTC"),
        )
    engine.dispose()
    return outcome, receiver


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]replay[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
    )


def _show_results(
    settings: Settings,
    console: Console,
    outcome: DemoOutcome,
    receiver: WebhookReceiver,
    out: Path,
    wanted: dict[str, Any],
) -> None:
    from pipeline.reporting.alert_history import alert_detail
    from pipeline.reporting.report import build_report, write_charts
    from pipeline.scope import Scope
    from pipeline.storage.db import make_engine
    from workers.report_cli import print_report

    scope = Scope(kind="ticker", key=SCANDAL_TICKER)
    first, last = (datetime.fromisoformat(str(wanted[k])) for k in ("stream_start", "stream_end"))
    burst = datetime.fromisoformat(str(wanted["burst_start"]))
    engine = make_engine(settings.database)
    with engine.connect() as conn:
        around = build_report(conn, scope, burst - timedelta(hours=6), burst + timedelta(hours=8))
        whole = build_report(conn, scope, first, last)
        details = [alert_detail(conn, a.alert_id) for a in outcome.alerts]
    engine.dispose()
    console.rule(f"report: {scope} around the burst")
    print_report(console, around)
    console.rule(f"alerts ({len(outcome.alerts)}), with their explanations")
    for detail in details:
        if detail is not None:
            _print_alert(console, detail)
    _print_receiver(console, receiver, outcome)
    charts = write_charts(whole, out)
    console.rule("where to look next")
    for path in charts:
        console.print(f"chart: {path.resolve()}", highlight=False)
    url = f"sqlite:///{settings.database.url.get_secret_value().removeprefix('sqlite:///')}"
    fragment = f"#from={first:%Y-%m-%dT%H:%M:%SZ}&to={last:%Y-%m-%dT%H:%M:%SZ}&scope={scope}"
    console.print(
        f"dashboard: FINSENT_DATABASE__URL={url} finsent api   then open the printed address"
        f" with {fragment} appended (or run `finsent demo --serve`)",
        highlight=False,
        soft_wrap=True,
    )


def _print_alert(console: Console, detail: AlertDetail) -> None:
    ex = detail.explanation
    fired = f"{detail.fired_at:%a %H:%M}" if detail.fired_at else "never"
    resolved = f"{detail.resolved_at:%a %H:%M}" if detail.resolved_at else "still open"
    console.print(
        f"[bold]#{detail.alert_id} {detail.scope}[/] {detail.severity} · {detail.state} · "
        f"fired {fired} · resolved {resolved} UTC"
    )
    console.print(
        f"  negative share {detail.value:.2f} over {ex.get('count', '?')} items in "
        f"{detail.window_start:%H:%M}–{detail.window_end:%H:%M}; baseline median "
        f"{detail.baseline:.2f} (scale {ex.get('baseline_scale', 0):.2f}, "
        f"{ex.get('baseline_windows', '?')} windows); z = {detail.z:.1f} ≥ {ex.get('threshold')}",
        highlight=False,
    )
    for item in ex.get("top_items", [])[:5]:
        console.print(
            f"  · {item.get('score', 0):+.2f} {item.get('source')}: {item.get('headline')}",
            highlight=False,
            markup=False,
        )


def _print_receiver(console: Console, receiver: WebhookReceiver, outcome: DemoOutcome) -> None:
    got = receiver.received
    verified = [r for r in got if r.verified]
    kinds = sorted({str(r.payload.get("type") or r.payload.get("event_type")) for r in verified})
    console.rule("webhooks")
    console.print(
        f"local receiver: {len(got)} POSTs, {len(verified)} with a valid signature "
        f"(standardwebhooks), {len({r.webhook_id for r in verified})} distinct webhook-ids; "
        f"events {kinds}; notifier: {outcome.deliveries.delivered} delivered, "
        f"{outcome.deliveries.retried} retried, {outcome.deliveries.failed} failed",
        highlight=False,
    )


def _serve(settings: Settings, console: Console, first: datetime, last: datetime) -> None:
    import secrets

    import uvicorn

    from workers.api import build_app

    token = secrets.token_urlsafe(24)
    host, port = settings.api.host, settings.api.port
    console.print(
        f"dashboard: http://{host}:{port}/dashboard/#token={token}&from={first:%Y-%m-%dT%H:%M:%SZ}"
        f"&to={last:%Y-%m-%dT%H:%M:%SZ}&scope=ticker:{SCANDAL_TICKER}  (Ctrl-C stops)",
        highlight=False,
        soft_wrap=True,
    )
    uvicorn.run(build_app(settings, token), host=host, port=port, log_level="warning")
