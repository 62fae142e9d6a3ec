"""`finsent`: the command line. Thin: parse, load settings once, call pipeline, print."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Literal

import typer
from rich.table import Table

from pipeline.settings import describe_settings
from workers.invocation import GuardedTyper, console, friendly_errors, settings

# Panels of `finsent --help`, in the order a new user meets them.
SETUP, STREAM, ANALYSE, MODEL = "Set up", "Stream processing", "Trends and alerts", "The model"

app = GuardedTyper(
    name="finsent",
    help="Real-time financial sentiment monitoring: classify news, watch trends, alert on spikes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations and roles.", no_args_is_help=True)
app.add_typer(config_app, name="config", rich_help_panel=SETUP)
app.add_typer(topics_app, name="topics", rich_help_panel=SETUP)
app.add_typer(db_app, name="db", rich_help_panel=SETUP)


def finsent_version() -> str:
    try:
        return version("finsent")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


def _print_version(wanted: bool) -> None:
    if wanted:
        console.print(f"finsent {finsent_version()}", highlight=False)
        raise typer.Exit()


@app.callback()
def root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Real-time financial sentiment monitoring: classify news, watch trends, alert on spikes."""


@config_app.command("show")
@friendly_errors
def config_show(
    fmt: Annotated[Literal["table", "env"], typer.Option("--format", help="Output")] = "table",
) -> None:
    """Print the effective configuration; secrets are masked."""
    rows = describe_settings(settings())
    if fmt == "env":
        for row in rows:
            console.print(f"{row.env}={row.value}", markup=False, highlight=False)
        return
    table = Table(title="finsent configuration (secrets masked)")
    for column in ("setting", "value", "doc"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.env, row.value, row.doc)
    console.print(table)


@topics_app.command("ensure")
@friendly_errors
def topics_ensure() -> None:
    """Create news.raw, news.dlq and news.scored with configured partitions and retention."""
    from pipeline.consumer.topics import ensure_topics

    for name, outcome in ensure_topics(settings().kafka).items():
        console.print(f"{name}: {outcome}")


@db_app.command("upgrade")
@friendly_errors
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default head)."""
    from pipeline.storage.migrate import upgrade

    upgrade(settings().database.url.get_secret_value(), revision)
    console.print(f"database at {revision}")


@db_app.command("downgrade")
@friendly_errors
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (`base` = empty)."""
    from pipeline.storage.migrate import downgrade

    downgrade(settings().database.url.get_secret_value(), revision)
    console.print(f"database at {revision}")


@app.command("schema", rich_help_panel=SETUP)
@friendly_errors
def schema_write(
    out: Annotated[str, typer.Option(help="Where to write the JSON Schema")] = (
        "schemas/news_event.schema.json"
    ),
) -> None:
    """Write the inbound event's JSON Schema (kept in sync by a test)."""
    import json
    from pathlib import Path

    from schemas.news import news_event_json_schema

    text = json.dumps(news_event_json_schema(), indent=2, sort_keys=True) + "\n"
    Path(out).write_text(text, encoding="utf-8")
    console.print(f"wrote {out}")


# --- commands registered by feature modules (one line each) ---------------------------------
from workers import stream_cli  # noqa: E402  - streaming core (issue 4)

app.command("replay", rich_help_panel=STREAM)(stream_cli.replay)
# `produce` is the old name of `replay`: kept for scripts, hidden from help.
app.command("produce", hidden=True, help="Alias of `replay`.")(stream_cli.replay)
app.command("run", rich_help_panel=STREAM)(stream_cli.run)
app.add_typer(stream_cli.worker_app, name="worker", rich_help_panel=STREAM)
app.add_typer(stream_cli.dlq_app, name="dlq", rich_help_panel=STREAM)
app.command("reclassify", rich_help_panel=STREAM)(stream_cli.reclassify)

from workers import api as api_cli  # noqa: E402  - reporting and API (issue 6)
from workers import demo_cli, report_cli  # noqa: E402

app.command("demo", rich_help_panel=ANALYSE)(demo_cli.demo)
app.command("report", rich_help_panel=ANALYSE)(report_cli.report)
app.command("api", rich_help_panel=ANALYSE)(api_cli.api)
db_app.command("create-roles")(report_cli.create_roles)

from workers import alerts_cli  # noqa: E402  - trends, alerts, webhooks (issue 5)
from workers import notifier as notifier_worker  # noqa: E402
from workers import scheduler as scheduler_worker  # noqa: E402

stream_cli.worker_app.command("schedule")(friendly_errors(scheduler_worker.schedule))
stream_cli.worker_app.command("notify")(friendly_errors(notifier_worker.notify))
app.add_typer(alerts_cli.alerts_app, name="alerts", rich_help_panel=ANALYSE)
app.add_typer(alerts_cli.endpoints_app, name="endpoints", rich_help_panel=ANALYSE)
app.command("backtest", rich_help_panel=ANALYSE)(alerts_cli.backtest)


from workers import model_cli  # noqa: E402  - the model: train, evaluate, export (issue 3)

app.command("train", rich_help_panel=MODEL)(model_cli.train)
app.command("evaluate", rich_help_panel=MODEL)(model_cli.evaluate)
app.command("export", rich_help_panel=MODEL)(model_cli.export)
app.add_typer(model_cli.model_app, name="model", rich_help_panel=MODEL)


def main() -> None:
    # `app` is a GuardedTyper: an error raised outside a command's own guard (settings read in
    # an option's default, a callback) is still one line, never a traceback quoting secrets.
    app(prog_name="finsent")


if __name__ == "__main__":
    main()
