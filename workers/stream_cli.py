"""Commands of the streaming core: replay, dlq, reclassify, worker classify, run."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.consumer.replay import ReplayOptions, ReplaySource, pace
from pipeline.errors import ConfigError, InputMissing
from pipeline.settings import Settings
from workers.invocation import console, friendly_errors, settings

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine

    from pipeline.consumer.dlq import StoredDeadLetter
    from pipeline.consumer.dlq_replay import ReplayRecord, SqlReplayLedger
    from pipeline.consumer.reclassify import TimeRange

dlq_app = typer.Typer(help="Inspect and replay dead letters (news.dlq).", no_args_is_help=True)
worker_app = typer.Typer(help="Long-running workers.", no_args_is_help=True)

F = TypeVar("F", bound=Callable[..., Any])


def _console() -> Console:
    return console


_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

FileArg = Annotated[Path, typer.Argument(help="JSONL events, or CSV (finsent or stocknet)")]
RateOpt = Annotated[float | None, typer.Option(help="Events per second (default: no limit)")]
CompressOpt = Annotated[
    float | None, typer.Option("--time-compression", help="Replay N times faster than real")
]
RebaseOpt = Annotated[bool, typer.Option("--rebase-time", help="Shift so the first is now")]
FollowOpt = Annotated[bool, typer.Option("--follow", help="Keep reading appended lines")]
LimitOpt = Annotated[int | None, typer.Option(help="Stop after N events")]


def parse_moment(text: str) -> datetime:
    """An ISO-8601 time, or a span back from now: 30s, 10m, 2h, 7d."""
    match = _RELATIVE.match(text.strip())
    if match:
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        return datetime.now(UTC) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise ConfigError(f"not a time: {text!r} (ISO-8601, or 30s/10m/2h/7d)") from e
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def replay_options(
    rate: float | None, compression: float | None, rebase: bool, follow: bool, limit: int | None
) -> ReplayOptions:
    rebase_to = datetime.now(UTC) if rebase else None
    return ReplayOptions(rebase_to, compression, rate, follow, limit)


@friendly_errors
def replay(
    file: FileArg,
    rate: RateOpt = None,
    time_compression: CompressOpt = None,
    rebase_time: RebaseOpt = False,
    follow: FollowOpt = False,
    limit: LimitOpt = None,
) -> None:
    """Publish a file of news events to the raw topic, paced, with a progress bar."""
    from workers.classifier import make_producer

    config = settings()
    _require_kafka(config)
    options = replay_options(rate, time_compression, rebase_time, follow, limit)
    total = None if follow else _count_rows(file, limit)
    producer = make_producer(config.kafka)
    sent = 0
    with _progress() as progress:
        task = progress.add_task(f"→ {config.kafka.raw_topic}", total=total)
        for event in pace(iter(ReplaySource(file, options))):
            producer.send(config.kafka.raw_topic, value=event.value, key=event.key)
            sent += 1
            progress.advance(task)
        producer.flush()
    producer.close(timeout=10)
    _console().print(f"published {sent} events to {config.kafka.raw_topic}")


def _count_rows(file: Path, limit: int | None) -> int:
    with file.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    rows = lines - 1 if file.suffix.lower() == ".csv" else lines
    return min(rows, limit) if limit is not None else rows


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_console(),
    )


def _require_kafka(config: Settings) -> None:
    if config.kafka.embedded:
        raise ConfigError("kafka.bootstrap is empty: set FINSENT_KAFKA__BOOTSTRAP")


@dlq_app.command("list")
@friendly_errors
def dlq_list(
    since: Annotated[str | None, typer.Option(help="ISO time or 30s/10m/2h/7d")] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind (json, oversize, …)")] = None,
) -> None:
    """List dead letters: where they came from, why, whether and how they were replayed."""
    from pipeline.consumer.dlq import read_dead_letters

    config = settings()
    _require_kafka(config)
    moment = parse_moment(since) if since else None
    # The letters live in Kafka, their replay history in the database: ask Kafka first.
    letters = list(read_dead_letters(config.kafka, moment, kind))
    done = _replay_ledger(config).replayed(config.kafka.dlq_topic)
    table = Table(title=f"dead letters in {config.kafka.dlq_topic}")
    for column in ("at", "failed_at", "kind", "origin", "replay", "reason"):
        table.add_column(column, overflow="fold")
    for stored in letters:
        letter = stored.letter
        origin = f"{letter.original_topic}[{letter.original_partition}]@{letter.original_offset}"
        if letter.replay_of:
            origin += f" (bounced replay of {letter.replay_of})"
        table.add_row(
            stored.where,
            letter.failed_at.isoformat(timespec="seconds"),
            letter.kind,
            origin,
            replay_status(stored, done.get((stored.partition, stored.offset))),
            letter.reason,
        )
    _console().print(table)


def replay_status(stored: StoredDeadLetter, record: ReplayRecord | None) -> str:
    """What `dlq replay` would do with the letter, or what it did."""
    from pipeline.consumer.dlq_replay import json_problem

    if record is not None:
        return f"replayed {record.replays}x, last {record.describe()}"
    if not stored.letter.replayable:
        return "no (truncated)"
    problem = json_problem(stored.value)
    return f"no: {problem}" if problem else "yes"


def _replay_ledger(config: Settings) -> SqlReplayLedger:
    from pipeline.consumer.dlq_replay import SqlReplayLedger
    from pipeline.storage.db import open_database

    return SqlReplayLedger(open_database(config.database), lambda: datetime.now(UTC))


@dlq_app.command("show")
@friendly_errors
def dlq_show(where: Annotated[str, typer.Argument(help="PARTITION:OFFSET in the DLQ")]) -> None:
    """Print one dead letter: its headers and the original bytes."""
    from pipeline.consumer.dlq import read_dead_letters

    config = settings()
    _require_kafka(config)
    for stored in read_dead_letters(config.kafka):
        if stored.where == where:
            _console().print_json(stored.letter.model_dump_json())
            _console().print(stored.value.decode("utf-8", "replace"), markup=False, highlight=False)
            return
    raise ConfigError(f"no dead letter at {where}")


@dlq_app.command("replay")
@friendly_errors
def dlq_replay(
    since: Annotated[str, typer.Option(help="ISO time or 30s/10m/2h/7d")],
    kind: Annotated[str | None, typer.Option(help="Only this kind")] = None,
    at: Annotated[str | None, typer.Option("--at", help="Only PARTITION:OFFSET")] = None,
    patch: Annotated[
        str | None, typer.Option(help='JSON object merged into each event, e.g. {"source":"x"}')
    ] = None,
    again: Annotated[bool, typer.Option("--again", help="Also letters already replayed")] = False,
    strip_bom: Annotated[bool, typer.Option("--strip-bom", help="Drop a leading BOM")] = False,
    fix_encoding: Annotated[
        bool, typer.Option("--fix-encoding", help="Re-encode Windows-1252/Latin-1 as UTF-8")
    ] = False,
    replace: Annotated[
        tuple[str, str] | None,
        typer.Option("--replace", help="Raw-text fix: replace OLD with NEW in the bytes"),
    ] = None,
) -> None:
    """Send dead letters back to the raw topic once each (as they are, or fixed)."""
    from pipeline.consumer.dlq import read_dead_letters
    from pipeline.consumer.dlq_replay import KafkaReplaySender, ValueFix, replay_dead_letters

    config = settings()
    _require_kafka(config)
    fix = ValueFix(strip_bom, fix_encoding, replace, _patch(patch))
    letters = [
        s
        for s in read_dead_letters(config.kafka, parse_moment(since), kind)
        if at is None or s.where == at
    ]
    sender = KafkaReplaySender(config.kafka)
    try:
        outcome = replay_dead_letters(
            letters, fix, _replay_ledger(config), sender, config.kafka.dlq_topic, again
        )
    finally:
        sender.close()
    skipped = "; ".join(f"{n} {why}" for why, n in sorted(outcome.skipped.items()))
    _console().print(
        f"replayed {outcome.sent} dead letters to {config.kafka.raw_topic} ({fix.describe()})"
        + (f"; skipped: {skipped}" if skipped else "")
    )


def _patch(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"--patch is not JSON: {e}") from e
    if not isinstance(value, dict):
        raise ConfigError("--patch must be a JSON object")
    return value


@friendly_errors
def reclassify(
    model: Annotated[Path, typer.Option(help="Bundle directory of the new model")],
    start: Annotated[str | None, typer.Option("--from", help="Event time from (ISO or 7d)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Event time before (ISO or 1h)")] = None,
) -> None:
    """Rescore stored items with another model beside the old rows; resumable."""
    from pipeline.consumer.reclassify import TimeRange
    from pipeline.storage.db import open_database
    from workers.model_loading import with_bundle

    config = with_bundle(settings(), model)
    engine = open_database(config.database)
    span = TimeRange(parse_moment(start) if start else None, parse_moment(end) if end else None)
    try:
        version, done = rescore_with_progress(config, engine, span)
    finally:
        engine.dispose()
    _console().print(f"reclassified {done} items with model {version}")


def rescore_with_progress(config: Settings, engine: Engine, span: TimeRange) -> tuple[str, int]:
    """Rescore the span's items lacking a row of the configured model, page by page behind a
    progress bar (`reclassify`, `model switch`); returns the model version and items rescored."""
    from pipeline.consumer.reclassify import count_unscored, rescore_page
    from workers.model_loading import batch_classifier, load_runtime

    runtime, record = load_runtime(config)
    classifier = batch_classifier(runtime, engine, config)
    page = config.batching.max_batch_size * 4
    done = 0
    with _progress() as progress:
        task = progress.add_task(
            f"model {record.version[:12]}", total=count_unscored(engine, record.version, span)
        )
        while n := rescore_page(engine, classifier, record, span, datetime.now(UTC), page):
            done += n
            progress.advance(task, n)
    return record.version, done


@worker_app.command("classify")
@friendly_errors
def worker_classify() -> None:
    """Run the Kafka classifier worker until SIGTERM (drains, commits, exits 0)."""
    from pipeline.storage.db import open_database
    from workers.classifier import run_classifier
    from workers.metrics_server import serve_metrics

    config = settings()
    _require_kafka(config)
    open_database(config.database).dispose()  # fail fast: unreachable, or no schema
    serve_metrics(config.metrics_host, config.metrics_port)
    run_classifier(config)


@friendly_errors
def run(
    replay: Annotated[Path | None, typer.Option(help="Embedded: file to replay")] = None,
    time_compression: CompressOpt = None,
    rebase_time: RebaseOpt = False,
    follow: FollowOpt = False,
) -> None:
    """Classifier + scheduler + notifier in one process (embedded without Kafka)."""
    from pipeline.storage.db import open_database
    from workers.run import run_all

    config = settings()
    if replay is not None and not replay.is_file():
        raise InputMissing(f"--replay {replay}: no such file")
    if not config.kafka.embedded:  # embedded mode migrates its own database
        open_database(config.database).dispose()
    options = replay_options(None, time_compression, rebase_time, follow, None)
    run_all(config, replay, options)
