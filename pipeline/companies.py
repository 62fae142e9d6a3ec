"""The company dictionary: tickers, legal names and the names that headlines use."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pipeline.errors import ConfigError

COLUMNS = ("ticker", "name", "aliases")


@dataclass(frozen=True)
class Company:
    ticker: str
    name: str
    aliases: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Every name this company goes by: the legal name first, then the aliases."""
        return (self.name, *self.aliases)


def load_companies(path: Path | None = None) -> tuple[Company, ...]:
    """The dictionary at `path`, or the one bundled with the package."""
    if path is None:
        text = resources.files("pipeline.data").joinpath("companies.csv").read_text("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise ConfigError(f"company dictionary needs the columns {COLUMNS}")
    return tuple(_company(row, reader.line_num) for row in reader)


def _company(row: dict[str, str], line: int) -> Company:
    ticker, name = row["ticker"].strip(), row["name"].strip()
    if not ticker or not name:
        raise ConfigError(f"company dictionary line {line}: ticker and name are required")
    aliases = tuple(a.strip() for a in (row["aliases"] or "").split(";") if a.strip())
    return Company(ticker=ticker, name=name, aliases=aliases)
