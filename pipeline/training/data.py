"""Labeled training files (CSV or JSONL): loading, label mapping and the dev split."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import FinsentError
from pipeline.model.labels import SENTIMENTS, TOPICS, TWITTER_FINANCIAL_SENTIMENT_IDS

TASKS = ("topic", "sentiment")
_SENTIMENT_ALIASES = {"bearish": "negative", "bullish": "positive"}


class DataFileError(FinsentError):
    """A training or evaluation file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class LabeledRow:
    """One text with a topic and/or sentiment class id (None = not labeled for that task)."""

    text: str
    topic: int | None
    sentiment: int | None


@dataclass(frozen=True)
class DataSource:
    """A file and how its columns map onto tasks (`sent.csv:label=sentiment`)."""

    path: Path
    columns: Mapping[str, str] = field(default_factory=dict)  # file column -> task

    @classmethod
    def parse(cls, spec: str) -> DataSource:
        """Reads `PATH` or `PATH:COLUMN=TASK[,COLUMN=TASK]`."""
        path, _, mapping = spec.partition(":")
        columns: dict[str, str] = {}
        for pair in filter(None, mapping.split(",")):
            column, _, task = pair.partition("=")
            if task not in TASKS or not column:
                raise DataFileError(f"{spec}: expected COLUMN=topic|sentiment, got {pair!r}")
            columns[column] = task
        return cls(Path(path), columns)

    def describe(self) -> dict[str, str | int]:
        """Name, content hash and size, for the manifest."""
        content = self.path.read_bytes()
        return {"name": self.path.name, "sha256": hashlib.sha256(content).hexdigest()}


@dataclass(frozen=True)
class LabelMap:
    """Maps label names (case-insensitive) and integer ids onto class ids."""

    topic_ids: Mapping[str, str]
    sentiment_ids: Mapping[str, str]

    @classmethod
    def default(cls) -> LabelMap:
        """Topic ids in the Twitter Financial News order; its sentiment ids (0 = bearish)."""
        return cls(
            {str(i): name for i, name in enumerate(TOPICS)},
            {str(i): name for i, name in TWITTER_FINANCIAL_SENTIMENT_IDS.items()},
        )

    @classmethod
    def from_file(cls, path: Path) -> LabelMap:
        """A JSON `{"topic": {"id": "name"}, "sentiment": {...}}`; missing tasks keep defaults."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            default = cls.default()
            return cls(
                {str(k): str(v) for k, v in raw.get("topic", default.topic_ids).items()},
                {str(k): str(v) for k, v in raw.get("sentiment", default.sentiment_ids).items()},
            )
        except (OSError, ValueError, AttributeError) as e:
            raise DataFileError(f"label map {path}: {e}") from e

    def resolve(self, task: str, raw: str) -> int:
        """The class id of a label name or id; raises ValueError if unknown."""
        names, ids = (
            (TOPICS, self.topic_ids) if task == "topic" else (SENTIMENTS, self.sentiment_ids)
        )
        value = ids.get(raw.strip(), raw.strip())
        lowered = {n.lower(): i for i, n in enumerate(names)}
        key = value.lower()
        key = _SENTIMENT_ALIASES.get(key, key) if task == "sentiment" else key
        if key not in lowered:
            raise ValueError(f"unknown {task} label {raw!r}")
        return lowered[key]


def load_rows(sources: Sequence[DataSource], labels: LabelMap | None = None) -> list[LabeledRow]:
    """All rows of all sources; raises DataFileError naming the file and line of a problem."""
    labels = labels or LabelMap.default()
    rows: list[LabeledRow] = []
    for source in sources:
        rows.extend(_load_source(source, labels))
    return rows


def dev_split(
    rows: Sequence[LabeledRow], fraction: float, seed: int
) -> tuple[list[LabeledRow], list[LabeledRow]]:
    """A seeded split stratified by (topic, sentiment); classes with one row stay in train."""
    groups: dict[tuple[int | None, int | None], list[LabeledRow]] = defaultdict(list)
    for row in rows:
        groups[(row.topic, row.sentiment)].append(row)
    rng = random.Random(seed)
    train: list[LabeledRow] = []
    dev: list[LabeledRow] = []
    for key in sorted(groups, key=str):
        members = groups[key][:]
        rng.shuffle(members)
        take = round(len(members) * fraction) if len(members) > 1 else 0
        dev.extend(members[:take])
        train.extend(members[take:])
    rng.shuffle(train)
    return train, dev


def write_rows(path: Path, rows: Iterable[LabeledRow]) -> None:
    """Writes rows as JSONL with label names (readable back by `load_rows`)."""
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            record: dict[str, str] = {"text": row.text}
            if row.topic is not None:
                record["topic"] = TOPICS[row.topic]
            if row.sentiment is not None:
                record["sentiment"] = SENTIMENTS[row.sentiment]
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _load_source(source: DataSource, labels: LabelMap) -> list[LabeledRow]:
    if not source.path.is_file():
        raise DataFileError(f"{source.path}: no such file")
    records = _records(source.path)
    rows = [_row(source, line, record, labels) for line, record in records]
    if not rows:
        raise DataFileError(f"{source.path}: the file holds no rows")
    return rows


def _records(path: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise DataFileError(f"{path}:{line}: not valid UTF-8 ({e.reason})") from e
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return list(_jsonl_records(path, text))
    return list(_csv_records(path, text))


def _jsonl_records(path: Path, text: str) -> Iterator[tuple[int, dict[str, str]]]:
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataFileError(f"{path}:{line}: not valid JSON ({e.msg})") from e
        if not isinstance(record, dict):
            raise DataFileError(f"{path}:{line}: expected a JSON object")
        yield line, {k: "" if v is None else str(v) for k, v in record.items()}


def _csv_records(path: Path, text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        raise DataFileError(f"{path}: the file is empty")
    try:
        for record in reader:
            yield reader.line_num, {k: v or "" for k, v in record.items() if k is not None}
    except csv.Error as e:
        raise DataFileError(f"{path}:{reader.line_num}: malformed CSV ({e})") from e


def _row(source: DataSource, line: int, record: dict[str, str], labels: LabelMap) -> LabeledRow:
    where = f"{source.path}:{line}"
    tasks = {task: record.get(task, "") for task in TASKS}
    for column, task in source.columns.items():
        tasks[task] = record.get(column, "")
    if "text" not in record:
        raise DataFileError(f"{where}: missing column 'text' (columns: {sorted(record)})")
    known = set(record) & (set(TASKS) | set(source.columns))
    if not known:
        raise DataFileError(
            f"{where}: no label column; expected 'topic' and/or 'sentiment' "
            f"(or map one: PATH:COLUMN=sentiment)"
        )
    if not record["text"].strip():
        raise DataFileError(f"{where}: empty text")
    try:
        ids = {
            task: labels.resolve(task, value) if value.strip() else None
            for task, value in tasks.items()
        }
    except ValueError as e:
        raise DataFileError(f"{where}: {e}") from e
    if ids["topic"] is None and ids["sentiment"] is None:
        raise DataFileError(f"{where}: the row has neither a topic nor a sentiment label")
    return LabeledRow(record["text"], ids["topic"], ids["sentiment"])
