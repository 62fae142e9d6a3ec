"""`finsent`: the command line. Thin: parse, load settings once, call pipeline, print."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from pipeline.settings import describe_settings
from workers.invocation import console, friendly_errors, run_guarded, settings

app = typer.Typer(
    name="finsent",
    help="Real-time financial sentiment monitoring: classify news, watch trends, alert on spikes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
topics_app = typer.Typer(help="Kafka topics.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations and roles.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(topics_app, name="topics")
app.add_typer(db_app, name="db")


@config_app.command("show")
@friendly_errors
def config_show(
    fmt: Annotated[str, typer.Option("--format", help="table or env")] = "table",
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
    from pipeline.topics import ensure_topics

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


@app.command("schema")
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

app.command("produce")(stream_cli.produce)
app.command("replay")(stream_cli.produce)
app.add_typer(stream_cli.dlq_app, name="dlq")
app.command("reclassify")(stream_cli.reclassify)
app.add_typer(stream_cli.worker_app, name="worker")
app.command("run")(stream_cli.run)

from workers import api as api_cli  # noqa: E402  - reporting and API (issue 6)
from workers import demo_cli, report_cli  # noqa: E402

app.command("api")(api_cli.api)
app.command("report")(report_cli.report)
db_app.command("create-roles")(report_cli.create_roles)
app.command("demo")(demo_cli.demo)

from workers import alerts_cli  # noqa: E402  - trends, alerts, webhooks (issue 5)
from workers import notifier as notifier_worker  # noqa: E402
from workers import scheduler as scheduler_worker  # noqa: E402

stream_cli.worker_app.command("schedule")(friendly_errors(scheduler_worker.schedule))
stream_cli.worker_app.command("notify")(friendly_errors(notifier_worker.notify))
app.add_typer(alerts_cli.endpoints_app, name="endpoints")
app.add_typer(alerts_cli.alerts_app, name="alerts")
app.command("backtest")(alerts_cli.backtest)


from workers import model_cli  # noqa: E402  - the model: train, evaluate, export (issue 3)

app.command("train")(model_cli.train)
app.command("evaluate")(model_cli.evaluate)
app.command("export")(model_cli.export)
app.add_typer(model_cli.model_app, name="model")


def main() -> None:
    # The last boundary: an error raised outside a command's own guard (settings read in an
    # option's default, a callback) is still one line, never a traceback that quotes secrets.
    run_guarded(lambda: app(prog_name="finsent"))


if __name__ == "__main__":
    main()
