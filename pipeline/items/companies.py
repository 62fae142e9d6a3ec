"""The company dictionary: tickers, legal names and the names that headlines use."""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
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


@dataclass(frozen=True)
class SymbolChange:
    """`symbol` has named the issuer since `since` (UTC day); before, `predecessor` did."""

    symbol: str
    predecessor: str
    since: date


HISTORY_COLUMNS = ("symbol", "predecessor", "since")


def load_symbol_history(path: Path | None = None) -> tuple[SymbolChange, ...]:
    """Ticker changes (FB -> META, GOOG -> GOOGL): a company name maps to the symbol valid
    at the item's time (the dictionary holds today's symbols)."""
    if path is None:
        resource = resources.files("pipeline.data").joinpath("symbol_history.csv")
        text = resource.read_text("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != HISTORY_COLUMNS:
        raise ConfigError(f"symbol history needs the columns {HISTORY_COLUMNS}")
    try:
        changes = [
            SymbolChange(
                r["symbol"].strip(),
                r["predecessor"].strip(),
                date.fromisoformat(r["since"].strip()),
            )
            for r in reader
        ]
    except ValueError as e:
        raise ConfigError(f"symbol history line {reader.line_num}: {e}") from e
    return tuple(sorted(changes, key=lambda c: c.since, reverse=True))


def symbol_at(symbol: str, moment: datetime, history: Sequence[SymbolChange]) -> str:
    """The symbol that `symbol` (today's) had at `moment`, following changes back in time."""
    day = moment.astimezone(UTC).date()
    for change in history:  # newest change first, so chains (A -> B -> C) unwind in order
        if change.symbol == symbol and day < change.since:
            symbol = change.predecessor
    return symbol


@functools.cache
def issuer_symbols() -> frozenset[str]:
    """The bundled dictionary's symbols and the ones they had before (FB, GOOG): the issuers
    finsent knows. Read once per process."""
    symbols = {c.ticker for c in load_companies()}
    return frozenset(symbols | {change.predecessor for change in load_symbol_history()})
